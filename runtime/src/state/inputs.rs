//! A run's inputs: resolved against the workflow's declared inputs (defaults, types, clear
//! problems), and parsed from the command line's `KEY=VALUE`.

use super::*;

/// Checks `given` against the workflow's declared inputs: unknown names and wrong types are
/// refused, defaults fill the gaps, and missing required inputs are named. Returns every problem.
pub fn resolve_inputs(
    workflow: &Workflow,
    given: Map<String, Value>,
) -> Result<Map<String, Value>, Vec<String>> {
    resolve_declared_inputs(&workflow.inputs, given)
}

/// [`resolve_inputs`] against a list of declarations (a sub-workflow's).
pub(super) fn resolve_declared_inputs(
    inputs: &[crate::workflow::InputDecl],
    given: Map<String, Value>,
) -> Result<Map<String, Value>, Vec<String>> {
    let mut problems = Vec::new();
    let declared: Vec<&str> = inputs.iter().map(|i| i.name.value.as_str()).collect();
    for name in given.keys() {
        if !declared.contains(&name.as_str()) {
            let hint = match crate::diagnostics::did_you_mean(name, declared.iter().copied()) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None if declared.is_empty() => " (the workflow takes no inputs)".to_owned(),
                None => format!(" (inputs: {})", declared.join(", ")),
            };
            problems.push(format!("unknown input `{name}`{hint}"));
        }
    }
    let mut resolved = Map::new();
    for decl in inputs {
        let name = &decl.name.value;
        match given.get(name).or(decl.default.as_ref()) {
            Some(value) if decl.ty.accepts(value) => {
                resolved.insert(name.clone(), value.clone());
            }
            Some(value) => problems.push(format!(
                "input `{name}` must be {}, got {value}",
                decl.ty.with_article()
            )),
            None => problems.push(format!(
                "missing input `{name}` ({})",
                decl.ty.with_article()
            )),
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// Converts a command-line value to the declared type of input `name` (`--input n=3` gives the
/// number 3 for a `number` input and the string "3" for a `string` input). Unknown names are
/// kept as strings, for [`resolve_inputs`] to report.
pub fn parse_input_value(workflow: &Workflow, name: &str, text: &str) -> Result<Value, String> {
    let Some(decl) = workflow.inputs.iter().find(|i| i.name.value == name) else {
        return Ok(Value::String(text.to_owned()));
    };
    use crate::workflow::InputType;
    // Long values are quoted by their start only: the message stays readable.
    let quoted: String = if text.chars().count() > 60 {
        text.chars().take(60).chain("…".chars()).collect()
    } else {
        text.to_owned()
    };
    let parsed = match decl.ty {
        InputType::String => return Ok(Value::String(text.to_owned())),
        _ => serde_json::from_str::<Value>(text).map_err(|e| {
            // A value of the right shape can still be unreadable (nested past serde_json's
            // 128 levels, say): say why instead of blaming its type.
            let why = if e.is_syntax() && text.trim_start().starts_with(['[', '{']) {
                format!(" (it is not readable JSON: {e})")
            } else {
                String::new()
            };
            format!(
                "input `{name}` must be {}, got `{quoted}`{why}",
                decl.ty.with_article()
            )
        })?,
    };
    if decl.ty.accepts(&parsed) {
        Ok(parsed)
    } else {
        Err(format!(
            "input `{name}` must be {}, got `{quoted}`",
            decl.ty.with_article()
        ))
    }
}
