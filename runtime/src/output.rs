//! Structured output: the JSON Schemas agents declare (`output_schema:`) and the check of a
//! model's answer against them. Pure: schemas are compiled without any network or file access
//! (`$ref`s to remote documents are not fetched).

use serde_json::Value;

/// Checks that `schema` is a usable JSON Schema; the error says why not.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    if !schema.is_object() {
        return Err("an output schema is a JSON Schema object (`type: object`, …)".into());
    }
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Parses a model's answer as JSON and checks it against `schema`. On failure, says what is
/// wrong, in terms a model can act on (at most five problems).
pub fn validate(schema: &Value, answer: &str) -> Result<Value, Vec<String>> {
    let trimmed = answer.trim();
    // Models sometimes wrap JSON in a Markdown fence despite being asked not to.
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .map(str::trim)
        .unwrap_or(trimmed);
    let value: Value =
        serde_json::from_str(unfenced).map_err(|e| vec![format!("the answer is not JSON: {e}")])?;
    let validator = jsonschema::validator_for(schema).map_err(|e| vec![e.to_string()])?;
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at `{at}`: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_parsed_and_checked() {
        let schema = json!({
            "type": "object",
            "properties": { "title": { "type": "string" }, "score": { "type": "integer" } },
            "required": ["title", "score"]
        });
        assert!(check_schema(&schema).is_ok());
        assert!(check_schema(&json!("no")).is_err());
        assert!(check_schema(&json!({"type": 12})).is_err());
        assert_eq!(
            validate(&schema, "```json\n{\"title\": \"t\", \"score\": 3}\n```").unwrap(),
            json!({"title": "t", "score": 3})
        );
        let problems = validate(&schema, "{\"title\": 1}").unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(validate(&schema, "not json").unwrap_err()[0].contains("not JSON"));
    }
}
