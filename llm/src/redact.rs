//! Scrubbing what providers send back of every secret this process has resolved.
//!
//! A provider can echo a key: a 401 body that quotes the header it rejected, a streamed error
//! event, a model repeating its prompt. What a provider says becomes events, rows, log lines and
//! `--json` output, so it must not carry a key. Every [`Secret`](crate::secrets::Secret) made in
//! this process is remembered here (whichever source resolved it: keychain, environment, a
//! client over a pipe), and [`scrub`] replaces each occurrence with [`REDACTED`].
//!
//! The engine calls this at the one place where provider output enters it (the call actor):
//! deltas through a [`StreamScrubber`] (a key split across two deltas is still caught, by
//! holding back a tail that could begin one), then the final response and any error.
//!
//! Values shorter than [`MIN_SECRET_LEN`] are not scrubbed: a one-letter "key" of a local
//! server would otherwise erase that letter from every answer. Real provider keys are far longer.

use std::borrow::Cow;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The shortest value that is scrubbed.
pub const MIN_SECRET_LEN: usize = 8;

/// The secrets seen so far, longest first (so a key that contains another is replaced whole).
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());
/// Whether `KNOWN` has anything: the common case (no key at all) skips the lock.
static ANY: AtomicBool = AtomicBool::new(false);

/// Remembers `value` as a secret to scrub from now on.
pub fn remember(value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if known.iter().any(|k| k == value) {
        return;
    }
    known.push(value.to_owned());
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    ANY.store(true, Ordering::Release);
}

fn known() -> Option<std::sync::RwLockReadGuard<'static, Vec<String>>> {
    ANY.load(Ordering::Acquire)
        .then(|| KNOWN.read().unwrap_or_else(|e| e.into_inner()))
}

/// `text` with every known secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let Some(known) = known() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

/// Scrubs `text` in place.
pub fn scrub_in_place(text: &mut String) {
    if let Cow::Owned(clean) = scrub(text) {
        *text = clean;
    }
}

/// Scrubs every string (keys and values) inside a JSON value.
pub fn scrub_json(value: &mut serde_json::Value) {
    if !ANY.load(Ordering::Acquire) {
        return;
    }
    match value {
        serde_json::Value::String(s) => scrub_in_place(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(map) => {
            let dirty: Vec<String> = map
                .keys()
                .filter(|k| matches!(scrub(k), Cow::Owned(_)))
                .cloned()
                .collect();
            for key in dirty {
                if let Some(v) = map.remove(&key) {
                    map.insert(scrub(&key).into_owned(), v);
                }
            }
            map.values_mut().for_each(scrub_json);
        }
        _ => {}
    }
}

/// Scrubs a stream of text pieces: what [`push`](StreamScrubber::push) returns, followed by
/// [`finish`](StreamScrubber::finish), is the scrubbed whole, even when a secret is split
/// across pieces. A tail that could be the start of a secret is held back until the next piece
/// tells; nothing else is delayed.
#[derive(Debug, Default)]
pub struct StreamScrubber {
    held: String,
}

impl StreamScrubber {
    /// A scrubber with nothing held.
    pub fn new() -> StreamScrubber {
        StreamScrubber::default()
    }

    /// Takes the next piece; returns what can be shown now (possibly empty).
    pub fn push(&mut self, piece: &str) -> String {
        let Some(known) = known() else {
            if self.held.is_empty() {
                return piece.to_owned();
            }
            let mut out = std::mem::take(&mut self.held);
            out.push_str(piece);
            return out;
        };
        self.held.push_str(piece);
        let text = scrub(&self.held).into_owned();
        // The longest tail of `text` that is a proper prefix of a secret stays held.
        let keep = known
            .iter()
            .map(|secret| longest_tail_that_starts(&text, secret))
            .max()
            .unwrap_or(0);
        let split = text.len() - keep;
        self.held = text[split..].to_owned();
        let mut out = text;
        out.truncate(split);
        out
    }

    /// What is still held, scrubbed: the end of the stream.
    pub fn finish(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        scrub(&held).into_owned()
    }
}

/// The length of the longest proper suffix of `text` that is a prefix of `secret` (on a char
/// boundary of `text`).
fn longest_tail_that_starts(text: &str, secret: &str) -> usize {
    let longest = text.len().min(secret.len().saturating_sub(1));
    (1..=longest)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n) && secret.starts_with(&text[text.len() - n..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The set is process-wide: each test uses its own values, so parallel tests cannot disturb
    // one another (a value remembered by another test is only ever more scrubbing).

    #[test]
    fn a_remembered_secret_is_scrubbed_everywhere_it_appears() {
        remember("sk-redact-test-aaaa1111");
        assert_eq!(
            scrub("invalid key sk-redact-test-aaaa1111 (sk-redact-test-aaaa1111)"),
            "invalid key [redacted] ([redacted])"
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
        let mut v =
            serde_json::json!({"a": ["x sk-redact-test-aaaa1111"], "sk-redact-test-aaaa1111": 1});
        scrub_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x [redacted]"], "[redacted]": 1})
        );
    }

    #[test]
    fn short_values_are_not_secrets() {
        remember("abc");
        assert_eq!(scrub("abc abc"), "abc abc");
    }

    #[test]
    fn a_secret_split_across_pieces_is_caught() {
        let secret = "sk-redact-test-bbbb2222";
        remember(secret);
        let text = format!("your key is {secret}, indeed {secret}.");
        // Every way of cutting the text in three pieces.
        let cuts: Vec<usize> = (0..=text.len()).collect();
        for &a in &cuts {
            for &b in cuts.iter().filter(|&&b| b >= a).step_by(3) {
                let mut s = StreamScrubber::new();
                let mut out = s.push(&text[..a]);
                out += &s.push(&text[a..b]);
                out += &s.push(&text[b..]);
                out += &s.finish();
                assert_eq!(
                    out, "your key is [redacted], indeed [redacted].",
                    "cuts {a} {b}"
                );
            }
        }
    }

    #[test]
    fn only_a_possible_start_of_a_secret_is_held_back() {
        remember("sk-redact-test-cccc3333");
        let mut s = StreamScrubber::new();
        assert_eq!(s.push("hello wor"), "hello wor");
        assert_eq!(s.push("ld, sk-re"), "ld, ");
        assert_eq!(s.push("ading"), "sk-reading");
        assert_eq!(s.finish(), "");
    }
}
