//! Provider keys from the client: at each call that needs one, the server asks the client
//! (`secrets/get`) — VS Code keeps them in its SecretStorage — and, when the client has none
//! (or did not say it can answer), the keychain and then the environment answer as for any
//! other surface. A key crosses the pipe only as that answer: never argv, never the
//! environment of this process, never a log line (the transport logs no bodies).

use crate::protocol::{SecretsGetParams, SecretsGetResult};
use relavium_jsonrpc::Peer;
use relavium_llm::secrets::{ChainedSecrets, Secret, SecretSource};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a call waits for the client's answer before the keychain is asked instead.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// Keys asked of the client.
#[derive(Clone)]
pub struct ClientSecrets {
    peer: Peer,
    /// Set by `initialize` when the client can answer `secrets/get`.
    answers: Arc<AtomicBool>,
}

impl std::fmt::Debug for ClientSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecrets")
            .field("answers", &self.answers.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ClientSecrets {
    /// Keys asked over `peer`, once the client says it can answer ([`ClientSecrets::enable`]).
    pub fn new(peer: Peer) -> ClientSecrets {
        ClientSecrets {
            peer,
            answers: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The client answers `secrets/get` from now on.
    pub fn enable(&self) {
        self.answers.store(true, Ordering::SeqCst);
    }

    /// The client first, then the usual chain (keychain, environment).
    pub fn chained(&self) -> Arc<dyn SecretSource> {
        Arc::new(ChainedSecrets(vec![
            Arc::new(self.clone()),
            relavium_host::default_secrets(),
        ]))
    }

    fn ask(&self, provider: &str) -> Result<Option<Secret>, String> {
        let params = SecretsGetParams {
            provider: provider.to_owned(),
        };
        let answer = self
            .peer
            .request_blocking("secrets/get", params, ASK_TIMEOUT)
            .map_err(|e| format!("the client's key store: {e}"))?;
        let answer: SecretsGetResult = serde_json::from_value(answer).map_err(|_| {
            "the client's key store answered something that is not {key}".to_owned()
        })?;
        Ok(answer.key.filter(|k| !k.trim().is_empty()).map(Secret::new))
    }
}

impl SecretSource for ClientSecrets {
    fn api_key(&self, provider: &str) -> Result<Option<Secret>, String> {
        if !self.answers.load(Ordering::SeqCst) {
            return Ok(None);
        }
        // Called on an async worker in the middle of a call: let the runtime move its other
        // tasks elsewhere while this one waits for the round trip.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.ask(provider))
            }
            _ => self.ask(provider),
        }
    }
}
