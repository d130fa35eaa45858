//! The workflow loader on arbitrary text: it never panics or hangs, and every error it reports
//! has a diagnostic whose span lies inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relavium_runtime::SourceFile;
use relavium_runtime::load::{InMemoryAgents, load_workflow};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("fuzz.relavium.yaml", text);
    if let Err(diagnostics) = load_workflow(&file, &InMemoryAgents::default()) {
        assert!(!diagnostics.is_empty(), "an error without a diagnostic");
        for d in diagnostics.iter() {
            assert!(
                d.span.start <= d.span.end && d.span.end <= text.len(),
                "span outside the file: {d}"
            );
            assert!(d.span.line >= 1 && d.span.col >= 1, "{d}");
            let _ = d.render_plain();
        }
    }
});
