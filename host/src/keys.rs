//! Provider keys as every surface manages them: which providers have one and where it comes
//! from, storing one in the OS keychain, removing it. No function here returns a key: a
//! surface (the desktop's settings page, `relavium keys`) can show and change keys without
//! ever holding one it did not just read from its user.

use relavium_llm::secrets::{EnvSecrets, KeychainSecrets, Secret, SecretSource};
use serde::{Deserialize, Serialize};

/// Where a provider's key comes from, in the order calls look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum KeySource {
    /// The OS keychain.
    Keychain,
    /// An environment variable (named).
    Environment {
        /// The variable.
        variable: String,
    },
    /// Nowhere: calls to this provider fail with an authentication error.
    None,
}

/// A provider and where its key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyStatus {
    /// The provider (`anthropic`).
    pub provider: String,
    /// Where its key comes from.
    pub source: KeySource,
}

/// Why a key could not be stored or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a provider name.
    #[error("`{0}` is not a provider name (lower-case letters, digits, `-`, `_`)")]
    BadProvider(String),
    /// An empty key.
    #[error("no key given")]
    Empty,
    /// The keychain refused (or there is none), and the variables that would do instead.
    #[error("{message} (on a machine without a keychain, set {variables} instead)")]
    Keychain {
        /// What the keychain said.
        message: String,
        /// `ANTHROPIC_API_KEY or RELAVIUM_ANTHROPIC_KEY`.
        variables: String,
    },
    /// There was no key to remove.
    #[error("no {0} key in the keychain")]
    NotStored(String),
}

impl KeyError {
    /// Its stable kind.
    pub fn kind(&self) -> relavium_runtime::ErrorKind {
        use relavium_runtime::ErrorKind;
        match self {
            KeyError::BadProvider(_) | KeyError::Empty => ErrorKind::InvalidInputs,
            KeyError::Keychain { .. } => ErrorKind::Keychain,
            KeyError::NotStored(_) => ErrorKind::NoKey,
        }
    }

    /// As a surface shows it.
    pub fn report(&self) -> relavium_runtime::ErrorReport {
        relavium_runtime::ErrorReport::new(self.kind(), self.to_string())
    }
}

/// Checks a provider name: lower-case letters, digits, `-` and `_`.
pub fn check_provider(provider: &str) -> Result<(), KeyError> {
    let valid = !provider.is_empty()
        && provider
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(KeyError::BadProvider(provider.to_owned()))
    }
}

/// Where each built-in provider's key comes from.
pub fn key_status() -> Vec<KeyStatus> {
    relavium_llm::config::BUILT_IN
        .iter()
        .map(|(provider, _)| {
            let in_keychain = matches!(KeychainSecrets.api_key(provider), Ok(Some(_)));
            let variable = EnvSecrets::variables(provider)
                .into_iter()
                .find(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
            let source = match (in_keychain, variable) {
                (true, _) => KeySource::Keychain,
                (false, Some(variable)) => KeySource::Environment { variable },
                (false, None) => KeySource::None,
            };
            KeyStatus {
                provider: (*provider).to_owned(),
                source,
            }
        })
        .collect()
}

/// Stores `key` (trimmed) as `provider`'s in the OS keychain.
pub fn store_key(provider: &str, key: &str) -> Result<(), KeyError> {
    check_provider(provider)?;
    let key = key.trim();
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    KeychainSecrets
        .store(provider, &Secret::new(key))
        .map_err(|message| KeyError::Keychain {
            message,
            variables: EnvSecrets::variables(provider).join(" or "),
        })
}

/// Removes `provider`'s key from the OS keychain.
pub fn remove_key(provider: &str) -> Result<(), KeyError> {
    check_provider(provider)?;
    match KeychainSecrets.remove(provider) {
        Ok(true) => Ok(()),
        Ok(false) => Err(KeyError::NotStored(provider.to_owned())),
        Err(message) => Err(KeyError::Keychain {
            message,
            variables: EnvSecrets::variables(provider).join(" or "),
        }),
    }
}
