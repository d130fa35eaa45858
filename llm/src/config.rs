//! The user's LLM configuration (`config.yaml` in the Relavium home): the default model and
//! fallbacks, base URLs, extra OpenAI-compatible endpoints, and extra prices. Keys are never in
//! it — they come from the keychain or the environment at call time.
//!
//! ```yaml
//! default_model: anthropic/claude-sonnet-4-5
//! fallback: [openai/gpt-4.1-mini, gemini/gemini-2.5-flash]
//! providers:
//!   anthropic: { base_url: https://api.anthropic.com }
//!   together:  { kind: openai, base_url: https://api.together.xyz/v1 }      # a new endpoint
//!   ollama:    { base_url: http://gpu-box:11434/v1 }
//! prices:
//!   - { model: together/llama-3.3-70b, effective: 2026-01-01, context: 131072, input: "0.88", output: "0.88" }
//! ```

use crate::adapters::anthropic::{self, AnthropicProvider};
use crate::adapters::gemini::{self, GeminiProvider};
use crate::adapters::openai::{Endpoint, MaxTokensField, OpenAiCompatProvider};
use crate::http::Timeouts;
use crate::pricing::{Price, PriceRow};
use crate::provider::ProviderRegistry;
use crate::secrets::SecretSource;
use relavium_runtime::ModelRef;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The parsed configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmConfig {
    /// The model of nodes that name none.
    pub default_model: Option<ModelRef>,
    /// The default fallback chain after the node's model.
    pub fallback: Vec<ModelRef>,
    /// Per-provider settings, by provider name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Extra prices.
    pub prices: Vec<Price>,
}

/// How one provider is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Which API it speaks.
    pub kind: ApiKind,
    /// Where it is.
    pub base_url: Option<String>,
    /// Whether calls need a key.
    pub requires_key: Option<bool>,
}

/// The APIs we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKind {
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI-compatible Chat Completions.
    Openai,
    /// Google Gemini.
    Gemini,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    default_model: Option<String>,
    #[serde(default)]
    fallback: Vec<String>,
    #[serde(default)]
    providers: BTreeMap<String, ProviderFile>,
    #[serde(default)]
    prices: Vec<PriceRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    #[serde(default)]
    kind: Option<ApiKind>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    requires_key: Option<bool>,
}

/// The built-in providers and the API each speaks.
pub const BUILT_IN: &[(&str, ApiKind)] = &[
    ("anthropic", ApiKind::Anthropic),
    ("openai", ApiKind::Openai),
    ("deepseek", ApiKind::Openai),
    ("ollama", ApiKind::Openai),
    ("llamacpp", ApiKind::Openai),
    ("vllm", ApiKind::Openai),
    ("gemini", ApiKind::Gemini),
];

impl LlmConfig {
    /// Parses a configuration file (`name` is used in messages).
    pub fn parse(name: &str, text: &str) -> Result<LlmConfig, String> {
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(LlmConfig::default());
        }
        let file = relavium_runtime::SourceFile::new(name, text);
        let (document, diagnostics) = relavium_runtime::yaml::parse(&file);
        if let Some(d) = diagnostics.iter().next() {
            return Err(d.to_string());
        }
        let json = match document {
            Some(d) if d.value != relavium_runtime::yaml::YamlValue::Null => d.to_json(),
            _ => return Ok(LlmConfig::default()),
        };
        let parsed: File = serde_json::from_value(json).map_err(|e| format!("{name}: {e}"))?;
        let model = |text: &str| ModelRef::parse(text).map_err(|e| format!("{name}: {e}"));
        let mut providers = BTreeMap::new();
        for (provider, p) in parsed.providers {
            let built_in = BUILT_IN
                .iter()
                .find(|(n, _)| *n == provider)
                .map(|(_, k)| *k);
            let kind = p.kind.or(built_in).ok_or_else(|| {
                format!("{name}: provider `{provider}` is not built in: give its `kind` (anthropic, openai or gemini) and `base_url`")
            })?;
            if built_in.is_none() && p.base_url.is_none() {
                return Err(format!("{name}: provider `{provider}` needs a `base_url`"));
            }
            providers.insert(
                provider,
                ProviderConfig {
                    kind,
                    base_url: p.base_url,
                    requires_key: p.requires_key,
                },
            );
        }
        let mut prices = Vec::new();
        for row in parsed.prices {
            prices.push(row.into_price().map_err(|e| format!("{name}: {e}"))?);
        }
        Ok(LlmConfig {
            default_model: parsed.default_model.as_deref().map(model).transpose()?,
            fallback: parsed
                .fallback
                .iter()
                .map(|m| model(m))
                .collect::<Result<_, _>>()?,
            providers,
            prices,
        })
    }

    /// Registers every built-in provider and every configured one into `registry`, with keys
    /// from `secrets`.
    pub fn register_providers(
        &self,
        registry: &mut ProviderRegistry,
        secrets: Arc<dyn SecretSource>,
        timeouts: Timeouts,
    ) -> Result<(), String> {
        let mut names: Vec<(String, ApiKind)> = BUILT_IN
            .iter()
            .map(|(n, k)| ((*n).to_owned(), *k))
            .collect();
        for (name, p) in &self.providers {
            if !names.iter().any(|(n, _)| n == name) {
                names.push((name.clone(), p.kind));
            }
        }
        for (name, kind) in names {
            let configured = self.providers.get(&name);
            let base_url = configured.and_then(|p| p.base_url.clone());
            let err = |e: crate::LlmError| format!("provider `{name}`: {}", e.message);
            match kind {
                ApiKind::Anthropic => {
                    let url = base_url.unwrap_or_else(|| anthropic::DEFAULT_BASE_URL.to_owned());
                    registry.register(Arc::new(
                        AnthropicProvider::new(url, Arc::clone(&secrets), timeouts).map_err(err)?,
                    ));
                }
                ApiKind::Gemini => {
                    let url = base_url.unwrap_or_else(|| gemini::DEFAULT_BASE_URL.to_owned());
                    registry.register(Arc::new(
                        GeminiProvider::new(url, Arc::clone(&secrets), timeouts).map_err(err)?,
                    ));
                }
                ApiKind::Openai => {
                    let mut endpoint = match name.as_str() {
                        "openai" => Endpoint::openai(),
                        "deepseek" => Endpoint::deepseek(),
                        "ollama" => Endpoint::ollama(),
                        "llamacpp" => Endpoint::llama_cpp(),
                        "vllm" => Endpoint::vllm(),
                        other => Endpoint::new(other, "", true, MaxTokensField::MaxTokens),
                    };
                    if let Some(url) = base_url {
                        endpoint.base_url = url.trim_end_matches('/').to_owned();
                    }
                    if let Some(requires_key) = configured.and_then(|p| p.requires_key) {
                        endpoint.requires_key = requires_key;
                    }
                    registry.register(Arc::new(
                        OpenAiCompatProvider::new(endpoint, Arc::clone(&secrets), timeouts)
                            .map_err(err)?,
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::EnvSecrets;
    use relavium_runtime::MicroCents;

    #[test]
    fn a_full_config_parses_and_registers() {
        let config = LlmConfig::parse(
            "config.yaml",
            "default_model: anthropic/claude-sonnet-4-5\nfallback: [openai/gpt-4.1-mini]\nproviders:\n  anthropic: { base_url: http://127.0.0.1:9 }\n  together: { kind: openai, base_url: https://api.together.xyz/v1 }\nprices:\n  - { model: together/llama, effective: 2026-01-01, context: 1000, input: \"0.88\", output: \"0.88\" }\n",
        )
        .unwrap();
        assert_eq!(
            config.default_model.as_ref().unwrap().to_string(),
            "anthropic/claude-sonnet-4-5"
        );
        assert_eq!(config.fallback.len(), 1);
        assert_eq!(config.prices[0].input, MicroCents(88_000_000));
        let mut registry = ProviderRegistry::new();
        config
            .register_providers(&mut registry, Arc::new(EnvSecrets), Timeouts::default())
            .unwrap();
        let names: Vec<&str> = registry.names().collect();
        for expected in [
            "anthropic",
            "deepseek",
            "gemini",
            "ollama",
            "openai",
            "together",
        ] {
            assert!(names.contains(&expected), "{names:?}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert!(
            LlmConfig::parse("c", "providers:\n  mystery: { base_url: http://x }\n")
                .unwrap_err()
                .contains("`kind`")
        );
        assert!(
            LlmConfig::parse("c", "default_modle: x/y\n")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            LlmConfig::parse("c", "default_model: nope\n")
                .unwrap_err()
                .contains("provider/model")
        );
        assert_eq!(LlmConfig::parse("c", "").unwrap(), LlmConfig::default());
    }
}
