//! `relavium schema workflow|agent|events|validation|error`: the published JSON Schemas
//! (`docs/schema/`), generated from the types and checked by tests.

use crate::SchemaKind;
use crate::exit;
use crate::failure::Failure;
use crate::output::write_line;

pub(crate) fn print(kind: SchemaKind) -> Result<u8, Failure> {
    let text = match kind {
        SchemaKind::Workflow => include_str!("../../../docs/schema/workflow.schema.json"),
        SchemaKind::Agent => include_str!("../../../docs/schema/agent.schema.json"),
        SchemaKind::Events => include_str!("../../../docs/schema/run-event.schema.json"),
        SchemaKind::Validation => include_str!("../../../docs/schema/validation.schema.json"),
        SchemaKind::Error => include_str!("../../../docs/schema/error.schema.json"),
    };
    write_line(&mut std::io::stdout().lock(), text.trim_end());
    Ok(exit::OK)
}
