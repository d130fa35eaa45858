//! The template and expression engine on arbitrary source: compiling, listing references,
//! rendering and evaluating never panic, and fuel bounds every render (no hang on loops).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relavium_runtime::template::TemplateEngine;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let engine = TemplateEngine::new(20_000);
    let context = serde_json::json!({
        "inputs": { "topic": "rust", "n": 3, "items": ["a", "b", "c"] },
        "nodes": { "a": { "output": "hello" }, "b": { "output": { "score": 7, "tags": ["x"] } } },
    });
    let _ = engine.references(source);
    let _ = engine.expression_references(source);
    let _ = engine.render(source, &context);
    let _ = engine.evaluate(source, &context);
});
