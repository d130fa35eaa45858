//! Assembling a streamed response: text pieces and tool-call argument fragments in, one
//! [`LlmResponse`] out. Shared by every adapter so they agree on what "invalid tool-call JSON"
//! and "the stream ended early" mean.

use crate::types::{ContentPart, ErrorClass, LlmError, LlmResponse};
use relavium_runtime::Usage;
use relavium_runtime::event::StopReason;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
struct ToolCall {
    id: String,
    name: String,
    arguments: String,
}

/// Collects the pieces of one streamed response.
#[derive(Debug, Default)]
pub struct ResponseBuilder {
    text: String,
    tools: BTreeMap<usize, ToolCall>,
}

impl ResponseBuilder {
    /// An empty response.
    pub fn new() -> ResponseBuilder {
        ResponseBuilder::default()
    }

    /// Appends streamed text.
    pub fn push_text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Whether any text was streamed (an error after that is never retried silently).
    pub fn has_output(&self) -> bool {
        !self.text.is_empty()
    }

    /// Starts (or names) tool call `index`.
    pub fn start_tool(&mut self, index: usize, id: &str, name: &str) {
        let call = self.tools.entry(index).or_default();
        if !id.is_empty() {
            call.id = id.to_owned();
        }
        if !name.is_empty() {
            call.name = name.to_owned();
        }
    }

    /// Appends to tool call `index`'s JSON arguments.
    pub fn push_tool_arguments(&mut self, index: usize, fragment: &str) {
        self.tools
            .entry(index)
            .or_default()
            .arguments
            .push_str(fragment);
    }

    /// The finished response; tool-call arguments must parse as JSON objects (an error is
    /// marked `after_output` when text was already streamed).
    pub fn finish(
        self,
        model: String,
        stop_reason: StopReason,
        usage: Usage,
    ) -> Result<LlmResponse, LlmError> {
        let has_output = self.has_output();
        self.build(model, stop_reason, usage).map_err(|mut e| {
            e.after_output = has_output;
            e
        })
    }

    fn build(
        self,
        model: String,
        stop_reason: StopReason,
        usage: Usage,
    ) -> Result<LlmResponse, LlmError> {
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(ContentPart::Text { text: self.text });
        }
        for (_, call) in self.tools {
            let arguments = if call.arguments.trim().is_empty() {
                "{}"
            } else {
                call.arguments.as_str()
            };
            let input: serde_json::Value = serde_json::from_str(arguments).map_err(|e| {
                LlmError::new(
                    ErrorClass::MalformedResponse,
                    format!(
                        "the arguments of tool call `{}` are not valid JSON: {e}",
                        call.name
                    ),
                )
            })?;
            if !input.is_object() {
                return Err(LlmError::new(
                    ErrorClass::MalformedResponse,
                    format!(
                        "the arguments of tool call `{}` are not a JSON object",
                        call.name
                    ),
                ));
            }
            content.push(ContentPart::ToolUse {
                id: call.id,
                name: call.name,
                input,
            });
        }
        Ok(LlmResponse {
            model,
            content,
            stop_reason,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_arguments_are_assembled_in_order_and_validated() {
        let mut b = ResponseBuilder::new();
        b.push_text("Let me check.");
        b.start_tool(0, "call_1", "weather");
        b.push_tool_arguments(0, "{\"city\":");
        b.push_tool_arguments(0, "\"Paris\"}");
        let response = b
            .finish("m".into(), StopReason::ToolUse, Usage::default())
            .unwrap();
        assert_eq!(response.text(), "Let me check.");
        let calls: Vec<_> = response.tool_calls().collect();
        assert_eq!(
            calls[0],
            &ContentPart::ToolUse {
                id: "call_1".into(),
                name: "weather".into(),
                input: serde_json::json!({"city": "Paris"})
            }
        );

        let mut b = ResponseBuilder::new();
        b.start_tool(0, "c", "t");
        b.push_tool_arguments(0, "{\"city\": \"Par");
        let err = b
            .finish("m".into(), StopReason::ToolUse, Usage::default())
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::MalformedResponse);
    }
}
