//! The streaming decoders on arbitrary bytes in arbitrary chunkings: SSE framing, then each
//! vendor's decoder. Never a panic; the stream ends with one final item (a response or an
//! error) and nothing after it; and the chunking does not change what is decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relavium_llm::StreamEvent;
use relavium_llm::adapters::{WireFormat, decode_recorded};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    // The first byte picks where the body is split, the way a network splits it.
    let step = usize::from(cut).max(1);
    let chunks: Vec<&[u8]> = body.chunks(step).collect();
    for format in [
        WireFormat::Anthropic,
        WireFormat::OpenAi,
        WireFormat::Gemini,
    ] {
        let items = decode_recorded(format, &chunks);
        let whole = decode_recorded(format, &[body]);
        assert_eq!(
            format!("{items:?}"),
            format!("{whole:?}"),
            "{format:?}: chunking matters"
        );
        let last = items.last().expect("a stream always ends with an outcome");
        assert!(
            matches!(last, Ok(StreamEvent::Finished(_)) | Err(_)),
            "{format:?}: ended with {last:?}"
        );
        let finals = items
            .iter()
            .filter(|i| matches!(i, Ok(StreamEvent::Finished(_)) | Err(_)))
            .count();
        assert_eq!(finals, 1, "{format:?}: one outcome, last");
    }
});
