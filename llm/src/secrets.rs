//! API keys: resolved at call time, never stored in our structs longer than a call, never
//! printable.
//!
//! [`Secret`] hides its value from `Debug` and `Display`, so a key cannot reach a log line, an
//! event or an error message by accident. [`SecretSource`] is how adapters obtain keys; the
//! headless fallback [`EnvSecrets`] reads environment variables (the OS keychain implementation
//! is added beside it).

use std::fmt;

/// A secret value (an API key). Its `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where adapters get keys from, at call time.
pub trait SecretSource: Send + Sync {
    /// The key for `provider` (`anthropic`), if one is configured.
    fn api_key(&self, provider: &str) -> Result<Option<Secret>, String>;
}

/// Keys from environment variables: `ANTHROPIC_API_KEY`, `OPENAI_API_KEY`, `DEEPSEEK_API_KEY`,
/// `GEMINI_API_KEY` (or `GOOGLE_API_KEY`), and `RELAVIUM_<PROVIDER>_API_KEY` for any provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvSecrets;

impl EnvSecrets {
    /// The variables consulted for `provider`, in order.
    pub fn variables(provider: &str) -> Vec<String> {
        let upper: String = provider
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let mut names = vec![
            format!("RELAVIUM_{upper}_API_KEY"),
            format!("{upper}_API_KEY"),
        ];
        if provider == "gemini" {
            names.push("GOOGLE_API_KEY".into());
        }
        names
    }
}

impl SecretSource for EnvSecrets {
    fn api_key(&self, provider: &str) -> Result<Option<Secret>, String> {
        Ok(EnvSecrets::variables(provider)
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .map(Secret::new))
    }
}

/// A fixed set of keys (for tests and embedders).
#[derive(Debug, Default, Clone)]
pub struct StaticSecrets(pub std::collections::BTreeMap<String, Secret>);

impl SecretSource for StaticSecrets {
    fn api_key(&self, provider: &str) -> Result<Option<Secret>, String> {
        Ok(self.0.get(provider).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let secret = Secret::new("sk-sentinel-123");
        assert_eq!(
            format!("{secret} {secret:?}"),
            "[redacted] Secret([redacted])"
        );
        assert_eq!(secret.expose(), "sk-sentinel-123");
    }

    #[test]
    fn environment_variable_names_per_provider() {
        assert_eq!(
            EnvSecrets::variables("anthropic"),
            ["RELAVIUM_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"]
        );
        assert_eq!(
            EnvSecrets::variables("my-llm")[0],
            "RELAVIUM_MY_LLM_API_KEY"
        );
        assert!(EnvSecrets::variables("gemini").contains(&"GOOGLE_API_KEY".to_string()));
    }
}
