//! The published JSON Schema of the event union (`docs/schema/run-event.schema.json`) is exactly
//! what the types generate. Regenerate with `UPDATE_SCHEMA=1 cargo test -p relavium-runtime --test schema`.

use std::path::Path;

/// `generated` is what `docs/schema/FILE` holds (with `UPDATE_SCHEMA` set, it is written there).
fn assert_published(file: &str, generated: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schema")
        .join(file);
    let generated = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "docs/schema/{file} is stale: run `UPDATE_SCHEMA=1 cargo test -p relavium-runtime --test schema`"
    );
}

#[test]
fn the_published_event_schema_is_up_to_date() {
    assert_published(
        "run-event.schema.json",
        &relavium_runtime::event::event_schema(),
    );
}

/// `relavium validate --json` and the error reports surfaces print have published schemas too
/// (`docs/schema/validation.schema.json`, `docs/schema/error.schema.json`).
#[test]
fn the_published_report_schemas_are_up_to_date() {
    assert_published(
        "validation.schema.json",
        &relavium_runtime::report::validation_schema(),
    );
    assert_published(
        "error.schema.json",
        &relavium_runtime::report::error_schema(),
    );
}

/// `docs/errors.md` documents every error kind, in the order of `ErrorKind::ALL`.
#[test]
fn every_error_kind_is_documented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/errors.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let documented: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    let kinds: Vec<&str> = relavium_runtime::ErrorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(documented, kinds);
}
