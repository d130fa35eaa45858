//! What every HTTP adapter shares: one client that never retries, timeouts that become
//! classified errors, `retry-after` parsing, and turning a byte stream into SSE events.
//!
//! The client is built with `reqwest::retry::never()`: the engine's retry loop is the only one
//! in the system, so a paid request is never re-sent behind our back. SSE is parsed with
//! `sse-parse` over the response body: the WHATWG algorithm in time linear in the bytes,
//! whatever the chunking, and no reconnection (which would re-POST a paid request). See
//! decision 0012 for why not `eventsource-stream`.
//!
//! Redirects are followed only within the origin (scheme, host and port) the request was sent
//! to, at most [`MAX_REDIRECTS`] times: a key travels in a header, and reqwest keeps custom
//! headers (`x-api-key`, `x-goog-api-key`) across hosts, so a redirect elsewhere is refused
//! before anything is sent there, as a configuration error that names the target (decision
//! 0013).

use crate::provider::LlmStream;
use crate::types::{ErrorClass, LlmError, StreamEvent};
use futures::{Stream, StreamExt};
use std::time::Duration;

/// Timeouts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To establish the connection.
    pub connect: Duration,
    /// From sending the request to the response headers (time to first byte).
    pub first_byte: Duration,
    /// The longest silence allowed between two pieces of a streamed body.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(90),
        }
    }
}

/// The most same-origin redirects one request follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why a redirect was not followed (found again in the error's source chain).
#[derive(Debug)]
struct RefusedRedirect(String);

impl std::fmt::Display for RefusedRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedRedirect {}

/// Follows a redirect only to the origin the request started at: credentials never reach
/// another origin.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(|u| u.origin());
        let next = attempt.url().origin();
        if first.as_ref() != Some(&next) {
            let to = attempt.url().as_str().to_owned();
            let from = first.map(|o| o.ascii_serialization()).unwrap_or_default();
            return attempt.error(RefusedRedirect(format!(
                "the provider at {from} redirected to another origin ({to}); keys are only sent \
                 to the configured origin, so the redirect was not followed: set the provider's \
                 base_url to the address it redirects to, if you trust it"
            )));
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(RefusedRedirect(format!(
                "the provider redirected more than {MAX_REDIRECTS} times"
            )));
        }
        attempt.follow()
    })
}

/// An HTTP client that never retries (one attempt per call) and never carries a request to
/// another origin.
pub fn client(timeouts: Timeouts) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .retry(reqwest::retry::never())
        .redirect(same_origin_redirects())
        .user_agent(concat!("relavium/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            LlmError::new(
                ErrorClass::Configuration,
                format!("failed to build the HTTP client: {e}"),
            )
        })
}

/// Classifies a transport error (no HTTP status). A refused redirect is a configuration
/// error: sending the same request again would be refused again.
pub fn transport_error(error: &reqwest::Error, after_output: bool) -> LlmError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<RefusedRedirect>() {
            let mut e = LlmError::new(ErrorClass::Configuration, refused.0.clone());
            e.after_output = after_output;
            return e;
        }
        source = e.source();
    }
    if error.is_builder() {
        // Nothing left the machine: the request could not be made, and never will be — a key
        // or a setting holds what a header cannot carry (a line break pasted with a key).
        let mut e = LlmError::new(
            ErrorClass::Configuration,
            format!(
                "the request could not be made ({error}): a key or setting holds a character an HTTP header cannot carry, such as a line break"
            ),
        );
        e.after_output = after_output;
        return e;
    }
    let class = if error.is_timeout() {
        ErrorClass::Timeout
    } else {
        ErrorClass::Network
    };
    // reqwest's Display includes the URL, never headers: no key can leak through it.
    let mut e = LlmError::new(class, format!("the connection failed: {error}"));
    e.after_output = after_output;
    e
}

/// The `retry-after` header as a delay: seconds, or an HTTP date is ignored (we then back off
/// on our own), and absurd values are capped at one hour.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

/// Sends `request`, waiting at most `first_byte` for the response headers.
pub async fn send(
    request: reqwest::RequestBuilder,
    first_byte: Duration,
) -> Result<reqwest::Response, LlmError> {
    match tokio::time::timeout(first_byte, request.send()).await {
        Err(_) => Err(LlmError::new(
            ErrorClass::Timeout,
            format!("no response within {}s", first_byte.as_secs_f64()),
        )),
        Ok(Err(error)) => Err(transport_error(&error, false)),
        Ok(Ok(response)) => Ok(response),
    }
}

/// Sends `request` (see [`send`]); a non-success answer becomes the error `classify` makes of
/// its status, headers and (bounded) body.
pub async fn send_checked(
    request: reqwest::RequestBuilder,
    first_byte: Duration,
    classify: impl FnOnce(u16, &reqwest::header::HeaderMap, &str) -> LlmError,
) -> Result<reqwest::Response, LlmError> {
    let response = send(request, first_byte).await?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = error_body(response).await;
    Err(classify(status, &headers, &body))
}

/// Reads an error response's body (bounded) for classification.
pub async fn error_body(response: reqwest::Response) -> String {
    const LIMIT: usize = 64 * 1024;
    match response.bytes().await {
        Ok(bytes) => String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]).into_owned(),
        Err(_) => String::new(),
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when the event set none, as the SSE standard says).
    pub event: String,
    /// The `data:` field.
    pub data: String,
}

/// The response body as SSE events. A silence longer than `idle` and a broken connection are
/// errors (classified as timeout / network). Invalid UTF-8 decodes to U+FFFD, as the SSE
/// standard says; a line that is not a field is ignored, as it says too.
pub fn sse_events(
    response: reqwest::Response,
    idle: Duration,
) -> impl Stream<Item = Result<SseEvent, LlmError>> + Send {
    let events = sse_parse::EventStream::new(response.bytes_stream());
    futures::stream::unfold(
        (Box::pin(events), false),
        move |(mut events, done)| async move {
            if done {
                return None;
            }
            match tokio::time::timeout(idle, events.next()).await {
                Err(_) => Some((
                    Err(LlmError::new(
                        ErrorClass::Timeout,
                        format!("the stream was silent for {}s", idle.as_secs_f64()),
                    )),
                    (events, true),
                )),
                Ok(None) => None,
                Ok(Some(Ok(event))) => Some((
                    Ok(SseEvent {
                        event: event.event,
                        data: event.data,
                    }),
                    (events, false),
                )),
                // Framing has no errors (every byte sequence is an event stream); what the
                // events say is the decoder's to judge. Only the connection can fail here.
                Ok(Some(Err(sse_parse::Error::Transport(t)))) => {
                    Some((Err(transport_error(&t, false)), (events, true)))
                }
            }
        },
    )
}

/// A stream that first runs `start` (the request) and then yields what it produced, so nothing
/// is sent before the stream is first polled.
pub fn deferred<F>(start: F) -> LlmStream
where
    F: std::future::Future<Output = Result<LlmStream, LlmError>> + Send + 'static,
{
    Box::pin(
        futures::stream::once(start).flat_map(|result| match result {
            Ok(stream) => stream,
            Err(error) => Box::pin(futures::stream::iter([Err(error)])) as LlmStream,
        }),
    )
}

/// A vendor's decoder of one response's SSE events (pure: testable without HTTP).
pub trait StreamDecoder: Send + 'static {
    /// Handles one event; returns what to stream on, or the error that ends the stream.
    fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, LlmError>;
    /// The final response, once the body ended (an error if it ended too early).
    fn finish(self) -> Result<StreamEvent, LlmError>;
    /// Whether text was already streamed.
    fn has_output(&self) -> bool;
}

/// Runs SSE `events` through `decoder`, ending with `Finished` or the first error.
pub fn decode_stream<D: StreamDecoder>(
    events: std::pin::Pin<Box<dyn Stream<Item = Result<SseEvent, LlmError>> + Send>>,
    decoder: D,
) -> LlmStream {
    type Pending = std::collections::VecDeque<Result<StreamEvent, LlmError>>;
    let state = (events, Some(decoder), Pending::new());
    Box::pin(futures::stream::unfold(
        state,
        |(mut events, mut decoder, mut pending)| async move {
            loop {
                if let Some(item) = pending.pop_front() {
                    return Some((item, (events, decoder, pending)));
                }
                let current = decoder.as_mut()?;
                match events.next().await {
                    Some(Ok(event)) => match current.on_event(&event) {
                        Ok(items) => pending.extend(items.into_iter().map(Ok)),
                        Err(error) => {
                            decoder = None;
                            pending.push_back(Err(error));
                        }
                    },
                    Some(Err(mut error)) => {
                        error.after_output = current.has_output();
                        decoder = None;
                        pending.push_back(Err(error));
                    }
                    None => {
                        if let Some(finished) = decoder.take().map(StreamDecoder::finish) {
                            pending.push_back(finished);
                        }
                    }
                }
            }
        },
    ))
}
