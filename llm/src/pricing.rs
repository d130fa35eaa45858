//! Prices, cost and the worst-case estimate a budget reserves before a call leaves the machine.
//!
//! Prices live in a versioned data file (`llm/data/models.yaml`, embedded at build time): per
//! model, rows with an `effective` date, exact decimal dollars per million tokens for input,
//! output, cache reads and cache writes, and the context window. They are held as integer
//! micro-cents per million tokens, so cost is exact integer arithmetic, rounded up. A model
//! with no price is an error (or a user-supplied price), never a silent zero; providers that
//! cost nothing (local models, the scripted provider) are listed as free explicitly.

use crate::types::{ContentPart, LlmRequest};
use relavium_runtime::{MicroCents, ModelRef, Usage};
use serde::Deserialize;

/// The embedded catalog.
const EMBEDDED: &str = include_str!("../data/models.yaml");

/// One price row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// The model (`anthropic/claude-sonnet-4-5`).
    pub model: String,
    /// When this price took effect (`YYYY-MM-DD`).
    pub effective: String,
    /// Context window in tokens.
    pub context: u64,
    /// Per million input tokens.
    pub input: MicroCents,
    /// Per million output tokens.
    pub output: MicroCents,
    /// Per million cache-read tokens.
    pub cache_read: MicroCents,
    /// Per million cache-write tokens.
    pub cache_write: MicroCents,
}

impl Price {
    /// The exact cost of `usage`, each part rounded up to a whole micro-cent.
    pub fn cost(&self, usage: &Usage) -> MicroCents {
        MicroCents::for_tokens(usage.input_tokens, self.input)
            + MicroCents::for_tokens(usage.output_tokens, self.output)
            + MicroCents::for_tokens(usage.cache_read_tokens, self.cache_read)
            + MicroCents::for_tokens(usage.cache_write_tokens, self.cache_write)
    }
}

/// What a call would cost at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// An upper bound of the prompt's tokens.
    pub input_tokens: u64,
    /// The output cap.
    pub output_tokens: u64,
    /// The cost of both at full price (no cache discount assumed).
    pub cost: MicroCents,
}

/// Why a price could not be found or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// No price for this model.
    #[error(
        "no price for `{0}`: add one under `prices:` in the configuration, or pick a priced model"
    )]
    Unknown(String),
    /// The catalog file is invalid.
    #[error("invalid price catalog: {0}")]
    Invalid(String),
    /// The prompt cannot fit the model's context window.
    #[error(
        "the prompt (up to {tokens} tokens) may not fit the {context}-token context of `{model}`"
    )]
    TooLong {
        /// The model.
        model: String,
        /// The prompt's upper-bound token count.
        tokens: u64,
        /// The model's context window.
        context: u64,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    catalog_version: String,
    #[serde(default)]
    free_providers: Vec<String>,
    models: Vec<PriceRow>,
}

/// One price row as written in the catalog file or the user's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceRow {
    model: String,
    effective: String,
    context: u64,
    input: String,
    output: String,
    #[serde(default)]
    cache_read: Option<String>,
    #[serde(default)]
    cache_write: Option<String>,
}

impl PriceRow {
    /// The row checked (model reference, `YYYY-MM-DD` date, exact dollar amounts).
    pub(crate) fn into_price(self) -> Result<Price, PricingError> {
        ModelRef::parse(&self.model).map_err(PricingError::Invalid)?;
        let date = self.effective.as_bytes();
        let valid_date = date.len() == 10
            && date.iter().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    *b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !valid_date {
            return Err(PricingError::Invalid(format!(
                "`{}`: effective date `{}` is not YYYY-MM-DD",
                self.model, self.effective
            )));
        }
        let optional = |text: Option<&str>| {
            text.map(parse_usd)
                .transpose()
                .map(|v| v.unwrap_or(MicroCents::ZERO))
        };
        Ok(Price {
            input: parse_usd(&self.input)?,
            output: parse_usd(&self.output)?,
            cache_read: optional(self.cache_read.as_deref())?,
            cache_write: optional(self.cache_write.as_deref())?,
            model: self.model,
            effective: self.effective,
            context: self.context,
        })
    }
}

/// Parses exact decimal dollars ("3.00", "0.125") into micro-cents (×10^8).
pub fn parse_usd(text: &str) -> Result<MicroCents, PricingError> {
    MicroCents::parse_usd(text).map_err(PricingError::Invalid)
}

/// The price catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    version: String,
    free_providers: Vec<String>,
    rows: Vec<Price>,
}

impl Catalog {
    /// The catalog shipped with this build.
    pub fn embedded() -> Catalog {
        Catalog::parse(EMBEDDED).expect("the embedded catalog is valid (tested)")
    }

    /// Parses a catalog file (YAML or JSON).
    pub fn parse(text: &str) -> Result<Catalog, PricingError> {
        let file = relavium_runtime::SourceFile::new("models.yaml", text);
        let (document, diagnostics) = relavium_runtime::yaml::parse(&file);
        if let Some(d) = diagnostics.iter().next() {
            return Err(PricingError::Invalid(d.to_string()));
        }
        let json = document.map(|d| d.to_json()).unwrap_or_default();
        let parsed: CatalogFile =
            serde_json::from_value(json).map_err(|e| PricingError::Invalid(e.to_string()))?;
        let mut rows = Vec::new();
        for row in parsed.models {
            rows.push(row.into_price()?);
        }
        Ok(Catalog {
            version: parsed.catalog_version,
            free_providers: parsed.free_providers,
            rows,
        })
    }

    /// Every price row (each model's history of prices; [`Catalog::price`] picks one).
    pub fn prices(&self) -> &[Price] {
        &self.rows
    }

    /// The providers that cost nothing.
    pub fn free_providers(&self) -> &[String] {
        &self.free_providers
    }

    /// The catalog's version (a date).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Declares that `provider` costs nothing (a local server, a test double).
    pub fn with_free_provider(mut self, provider: &str) -> Catalog {
        self.free_providers.push(provider.to_owned());
        self
    }

    /// Adds user-supplied prices; they win over the embedded rows for the same model and date.
    pub fn with_overrides(mut self, rows: Vec<Price>) -> Catalog {
        for row in rows {
            self.rows
                .retain(|r| !(r.model == row.model && r.effective == row.effective));
            self.rows.push(row);
        }
        self
    }

    /// The price of `model` in effect on `date` (`YYYY-MM-DD`). Dated snapshots
    /// (`…-20250929`, `…-2025-04-14`, `…-latest`) use their base model's price.
    /// A provider listed as free costs nothing unless a row prices the model explicitly (a
    /// user's own price wins).
    pub fn price(&self, model: &ModelRef, date: &str) -> Result<Price, PricingError> {
        let full = model.to_string();
        let priced = self.rows.iter().any(|r| {
            r.model == full
                || full
                    .strip_prefix(r.model.as_str())
                    .is_some_and(is_snapshot_suffix)
        });
        if !priced && self.free_providers.iter().any(|p| p == model.provider()) {
            return Ok(Price {
                model: model.to_string(),
                effective: "0000-00-00".into(),
                context: u64::MAX,
                input: MicroCents::ZERO,
                output: MicroCents::ZERO,
                cache_read: MicroCents::ZERO,
                cache_write: MicroCents::ZERO,
            });
        }
        let base = self
            .rows
            .iter()
            .map(|r| r.model.as_str())
            .filter(|m| *m == full || full.strip_prefix(m).is_some_and(is_snapshot_suffix))
            .max_by_key(|m| m.len())
            .ok_or_else(|| PricingError::Unknown(full.clone()))?;
        self.rows
            .iter()
            .filter(|r| r.model == base && r.effective.as_str() <= date)
            .max_by(|a, b| a.effective.cmp(&b.effective))
            .cloned()
            .ok_or(PricingError::Unknown(full))
    }

    /// The most `request` to `model` can cost: an upper bound of its prompt tokens plus
    /// `max_output` tokens, all at full price.
    pub fn estimate(
        &self,
        model: &ModelRef,
        date: &str,
        request: &LlmRequest,
        max_output: u32,
    ) -> Result<Estimate, PricingError> {
        self.worst_case(model, date, input_token_bound(request), max_output)
    }

    /// The most a call of at most `input_tokens` prompt tokens and `max_output` output tokens
    /// to `model` can cost, all at full price (what a run supervisor reserves from the bounds
    /// its node sends); refused when even a generous tokenizer could not fit the prompt.
    pub fn worst_case(
        &self,
        model: &ModelRef,
        date: &str,
        input_tokens: u64,
        max_output: u32,
    ) -> Result<Estimate, PricingError> {
        let price = self.price(model, date)?;
        let output_tokens = u64::from(max_output);
        if input_tokens > price.context {
            // Only an error when even a generous tokenizer could not fit it (bytes / 2).
            let likely = input_tokens / 2;
            if likely > price.context {
                return Err(PricingError::TooLong {
                    model: model.to_string(),
                    tokens: likely,
                    context: price.context,
                });
            }
        }
        let cost = MicroCents::for_tokens(input_tokens, price.input)
            + MicroCents::for_tokens(output_tokens, price.output);
        Ok(Estimate {
            input_tokens,
            output_tokens,
            cost,
        })
    }
}

fn is_snapshot_suffix(rest: &str) -> bool {
    let Some(rest) = rest.strip_prefix('-') else {
        return false;
    };
    rest == "latest"
        || (rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_digit()))
        || (rest.len() == 10
            && rest.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            }))
}

/// An upper bound of a request's prompt tokens: every tokenizer in use spends at least one
/// UTF-8 byte per token, so the byte count bounds the token count; a fixed allowance per message
/// and per tool covers the framing the provider adds.
pub fn input_token_bound(request: &LlmRequest) -> u64 {
    const PER_MESSAGE: u64 = 16;
    let mut bytes = request
        .system
        .as_ref()
        .map_or(0, |s| s.len() as u64 + PER_MESSAGE);
    for message in &request.messages {
        bytes += PER_MESSAGE;
        for part in &message.content {
            bytes += match part {
                ContentPart::Text { text } => text.len() as u64,
                ContentPart::ToolUse { id, name, input } => {
                    (id.len() + name.len() + input.to_string().len()) as u64
                }
                ContentPart::ToolResult {
                    tool_use_id,
                    content,
                    ..
                } => (tool_use_id.len() + content.len()) as u64,
            };
        }
    }
    for tool in &request.tools {
        bytes += PER_MESSAGE
            + (tool.name.len()
                + tool.description.as_ref().map_or(0, String::len)
                + tool.input_schema.to_string().len()) as u64;
    }
    if let Some(schema) = &request.response_schema {
        bytes += PER_MESSAGE + schema.schema.to_string().len() as u64;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> ModelRef {
        ModelRef::parse(text).unwrap()
    }

    #[test]
    fn dollars_parse_exactly() {
        assert_eq!(parse_usd("3.00").unwrap(), MicroCents(300_000_000));
        assert_eq!(parse_usd("0.125").unwrap(), MicroCents(12_500_000));
        assert_eq!(parse_usd("0.005").unwrap(), MicroCents(500_000));
        assert_eq!(parse_usd("18.75").unwrap(), MicroCents(1_875_000_000));
        for bad in ["", ".5", "-1", "1e3", "0.123456789", "three", "1.2.3"] {
            assert!(parse_usd(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_embedded_catalog_prices_every_provider() {
        let catalog = Catalog::embedded();
        for m in [
            "anthropic/claude-sonnet-4-5",
            "openai/gpt-4.1-mini",
            "deepseek/deepseek-chat",
            "gemini/gemini-2.5-flash",
        ] {
            let price = catalog.price(&model(m), "2026-11-23").unwrap();
            assert!(
                price.input > MicroCents::ZERO && price.output > price.input,
                "{m}"
            );
        }
    }

    #[test]
    fn snapshots_use_their_base_price_but_new_models_are_unknown() {
        let catalog = Catalog::embedded();
        let sonnet = catalog
            .price(&model("anthropic/claude-sonnet-4-5-20250929"), "2026-01-01")
            .unwrap();
        assert_eq!(sonnet.model, "anthropic/claude-sonnet-4-5");
        let mini = catalog
            .price(&model("openai/gpt-4.1-mini-2025-04-14"), "2026-01-01")
            .unwrap();
        assert_eq!(mini.model, "openai/gpt-4.1-mini", "the longest base wins");
        assert!(matches!(
            catalog.price(&model("openai/gpt-4.1-turbo"), "2026-01-01"),
            Err(PricingError::Unknown(_))
        ));
        assert!(
            matches!(
                catalog.price(&model("anthropic/claude-sonnet-4-5"), "2025-01-01"),
                Err(PricingError::Unknown(_))
            ),
            "not yet in effect"
        );
    }

    #[test]
    fn cost_is_exact_integer_arithmetic() {
        let catalog = Catalog::embedded();
        let price = catalog
            .price(&model("anthropic/claude-sonnet-4-5"), "2026-11-23")
            .unwrap();
        let usage = Usage {
            input_tokens: 1_000,
            output_tokens: 500,
            cache_read_tokens: 10_000,
            cache_write_tokens: 2_000,
        };
        // 1000×$3 + 500×$15 + 10000×$0.30 + 2000×$3.75, per million tokens:
        // $0.003 + $0.0075 + $0.003 + $0.0075 = $0.021 = 2,100,000 µ¢.
        assert_eq!(price.cost(&usage), MicroCents(2_100_000));
    }

    #[test]
    fn the_estimate_bounds_the_worst_case() {
        let catalog = Catalog::embedded();
        let request = LlmRequest::new("gpt-4.1-mini", "x".repeat(1_000));
        let estimate = catalog
            .estimate(&model("openai/gpt-4.1-mini"), "2026-11-23", &request, 100)
            .unwrap();
        assert_eq!(estimate.input_tokens, 1_016);
        // 1016 × $0.40 + 100 × $1.60 per million = 40,640 + 16,000 µ¢.
        assert_eq!(estimate.cost, MicroCents(56_640));
        assert_eq!(
            catalog
                .estimate(&model("scripted/echo"), "2026-11-23", &request, 100)
                .unwrap()
                .cost,
            MicroCents::ZERO
        );
    }

    #[test]
    fn user_prices_override_and_bad_rows_are_refused() {
        let catalog = Catalog::embedded().with_overrides(vec![Price {
            model: "openai/my-finetune".into(),
            effective: "2026-01-01".into(),
            context: 128_000,
            input: parse_usd("1.00").unwrap(),
            output: parse_usd("2.00").unwrap(),
            cache_read: MicroCents::ZERO,
            cache_write: MicroCents::ZERO,
        }]);
        assert!(
            catalog
                .price(&model("openai/my-finetune"), "2026-11-23")
                .is_ok()
        );
        // A free provider's model costs what a user's row says, if one does.
        let scripted = Catalog::embedded().with_overrides(vec![Price {
            model: "scripted/echo".into(),
            effective: "2020-01-01".into(),
            context: 1_000,
            input: parse_usd("1.00").unwrap(),
            output: parse_usd("2.00").unwrap(),
            cache_read: MicroCents::ZERO,
            cache_write: MicroCents::ZERO,
        }]);
        let echo = scripted
            .price(&model("scripted/echo"), "2026-11-23")
            .unwrap();
        assert_eq!(echo.input, parse_usd("1.00").unwrap());
        let other = scripted
            .price(&model("scripted/other"), "2026-11-23")
            .unwrap();
        assert_eq!(other.input, MicroCents::ZERO);
        let bad = "catalog_version: x\nmodels:\n  - { model: a/b, effective: 2025-01-01, context: 1, input: \"1.0.0\", output: \"1\" }\n";
        assert!(Catalog::parse(bad).is_err());
    }
}
