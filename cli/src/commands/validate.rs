//! `relavium validate FILE… [--json]`: check workflow and agent files — every problem with its
//! location and a hint, as text on stderr, or with `--json` one [`ValidationReport`] on stdout
//! (its schema: `relavium schema validation`), both from
//! `relavium_host::validate`.

use crate::exit;
use crate::failure::Failure;
use crate::output::write_line;
use relavium_runtime::report::ValidationReport;
use std::io::Write;
use std::path::PathBuf;

pub(crate) fn validate(files: &[PathBuf], json: bool) -> Result<u8, Failure> {
    let mut report = ValidationReport { files: Vec::new() };
    let mut stdout = std::io::stdout().lock();
    let mut invalid = 0;
    for file in files {
        let result = relavium_host::validate::check(file, None);
        invalid += usize::from(result.is_err());
        match (result, json) {
            (Ok(()), false) => {
                write_line(&mut stdout, &format!("ok {}", file.display()));
            }
            (Err(error), false) => {
                let failure = Failure::from(error);
                let _ = writeln!(std::io::stderr(), "relavium: {}", failure.message);
            }
            (result, true) => report
                .files
                .push(relavium_host::validate::file_validation(file, result)),
        }
    }
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    }
    if invalid > 0 {
        // With `--json` the document says it all; the exit code still tells scripts.
        let message = if json {
            String::new()
        } else {
            format!("{invalid} of {} file(s) invalid", files.len())
        };
        Err(Failure::new(exit::INVALID_WORKFLOW, message))
    } else {
        Ok(exit::OK)
    }
}
