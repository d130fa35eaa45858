//! Provider adapters. Each adapter owns its vendor's wire types privately; only the types of
//! [`crate::types`] leave it.

pub mod anthropic;
pub mod gemini;
#[cfg(feature = "local")]
pub mod local;
pub mod openai;
pub mod scripted;

use crate::http::{SseEvent, decode_stream};
use crate::types::{LlmError, StreamEvent};
use futures::{FutureExt, StreamExt};

/// A vendor's streaming wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI's Chat Completions API (and the endpoints that speak it).
    OpenAi,
    /// Gemini's `streamGenerateContent`.
    Gemini,
}

/// Decodes a recorded response body exactly as a live one is decoded: the bytes, arriving in
/// `chunks`, framed as SSE, then run through the vendor's decoder by
/// [`decode_stream`](crate::http::decode_stream). Pure and synchronous: the fuzz targets feed it
/// arbitrary bytes in arbitrary chunkings.
pub fn decode_recorded(format: WireFormat, chunks: &[&[u8]]) -> Vec<Result<StreamEvent, LlmError>> {
    let mut parser = sse_parse::SseParser::new();
    let mut events = Vec::new();
    let mut drain = |parser: &mut sse_parse::SseParser| {
        while let Some(event) = parser.next_event() {
            events.push(Ok(SseEvent {
                event: event.event,
                data: event.data,
            }));
        }
    };
    for chunk in chunks {
        parser.feed(chunk);
        drain(&mut parser);
    }
    parser.finish();
    drain(&mut parser);
    let events = Box::pin(futures::stream::iter(events));
    let mut stream = match format {
        WireFormat::Anthropic => decode_stream(events, anthropic::Decoder::new(None)),
        WireFormat::OpenAi => decode_stream(events, openai::Decoder::new("openai")),
        WireFormat::Gemini => decode_stream(events, gemini::Decoder::default()),
    };
    let mut items = Vec::new();
    // Every item is ready at once: the events are all in memory.
    while let Some(Some(item)) = stream.next().now_or_never() {
        items.push(item);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_stream_decodes_whatever_its_chunking() {
        let body = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Salut\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        )
        .as_bytes();
        let whole = decode_recorded(WireFormat::Anthropic, &[body]);
        let bytewise: Vec<&[u8]> = body.chunks(1).collect();
        let split = decode_recorded(WireFormat::Anthropic, &bytewise);
        assert_eq!(format!("{whole:?}"), format!("{split:?}"));
        assert!(matches!(&whole[0], Ok(StreamEvent::TextDelta(t)) if t == "Salut"));
        let Some(Ok(StreamEvent::Finished(response))) = whole.last() else {
            panic!("{whole:?}")
        };
        assert_eq!(response.usage.output_tokens, 2);
        // Cut short, the same bytes are an error, never a panic.
        let cut = decode_recorded(WireFormat::Anthropic, &[&body[..body.len() / 2]]);
        assert!(cut.last().is_some_and(Result::is_err), "{cut:?}");
    }
}
