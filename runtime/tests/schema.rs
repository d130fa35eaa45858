//! The published JSON Schema of the event union (`docs/schema/run-event.schema.json`) is exactly
//! what the types generate. Regenerate with `UPDATE_SCHEMA=1 cargo test -p relavium-runtime --test schema`.

use std::path::Path;

#[test]
fn the_published_event_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema/run-event.schema.json");
    let generated =
        serde_json::to_string_pretty(&relavium_runtime::event::event_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "docs/schema/run-event.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p relavium-runtime --test schema`"
    );
}
