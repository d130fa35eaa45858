//! The published protocol schema is the one the types make.

use std::path::Path;

#[test]
fn the_published_serve_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema/serve.schema.json");
    let fresh =
        serde_json::to_string_pretty(&relavium_serve::protocol::protocol_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == fresh,
        "docs/schema/serve.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p relavium-serve --test schema`"
    );
}
