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
    /// Wraps `value`, and remembers it for [`redact`](crate::redact): from now on it is
    /// scrubbed from whatever a provider sends back.
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        crate::redact::remember(&value);
        Secret(value)
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

/// Several sources, asked in order; the first that has a key wins. A source that fails (a
/// keychain with no service running) is skipped, so the next one can answer.
#[derive(Clone)]
pub struct ChainedSecrets(pub Vec<std::sync::Arc<dyn SecretSource>>);

impl fmt::Debug for ChainedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainedSecrets({} sources)", self.0.len())
    }
}

impl SecretSource for ChainedSecrets {
    fn api_key(&self, provider: &str) -> Result<Option<Secret>, String> {
        for source in &self.0 {
            match source.api_key(provider) {
                Ok(Some(secret)) => return Ok(Some(secret)),
                Ok(None) => {}
                Err(e) => tracing::debug!(provider, error = %e, "a secret source is unavailable"),
            }
        }
        Ok(None)
    }
}

/// The OS keychain: service `relavium`, one entry per provider.
#[cfg(feature = "keychain")]
#[derive(Debug, Default, Clone, Copy)]
pub struct KeychainSecrets;

#[cfg(feature = "keychain")]
impl KeychainSecrets {
    /// The keychain service name entries are stored under.
    pub const SERVICE: &'static str = "relavium";

    fn entry(provider: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(Self::SERVICE, provider)
            .map_err(|e| format!("the keychain is unavailable: {e}"))
    }

    /// Stores `secret` as `provider`'s key.
    pub fn store(&self, provider: &str, secret: &Secret) -> Result<(), String> {
        Self::entry(provider)?
            .set_password(secret.expose())
            .map_err(|e| format!("failed to store the key in the keychain: {e}"))
    }

    /// Removes `provider`'s key; `false` if there was none.
    pub fn remove(&self, provider: &str) -> Result<bool, String> {
        match Self::entry(provider)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(format!("failed to remove the key from the keychain: {e}")),
        }
    }
}

#[cfg(feature = "keychain")]
impl SecretSource for KeychainSecrets {
    fn api_key(&self, provider: &str) -> Result<Option<Secret>, String> {
        match Self::entry(provider)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(format!("the keychain is unavailable: {e}")),
        }
    }
}
