//! `relavium keys set|remove|list`: provider keys in the OS keychain — read from a hidden
//! prompt or stdin, never from the command line, never printed.

use crate::KeysAction;
use crate::exit;
use crate::failure::Failure;
use crate::output::write_line;
use relavium_llm::secrets::{EnvSecrets, KeychainSecrets, Secret, SecretSource};
use std::io::{IsTerminal, Write};

fn valid_provider(provider: &str) -> Result<(), Failure> {
    let valid = !provider.is_empty()
        && provider
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Failure::new(
            exit::USAGE,
            format!("`{provider}` is not a provider name (lower-case letters, digits, `-`, `_`)"),
        ))
    }
}

pub(crate) fn keys(action: KeysAction) -> Result<u8, Failure> {
    let keychain = KeychainSecrets;
    let mut stderr = std::io::stderr();
    match action {
        KeysAction::Set { provider } => {
            valid_provider(&provider)?;
            let value = if std::io::stdin().is_terminal() {
                rpassword::prompt_password(format!("API key for {provider}: ")).map_err(|e| {
                    Failure::new(exit::USAGE, format!("failed to read the key: {e}"))
                })?
            } else {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                    Failure::new(
                        exit::USAGE,
                        format!("failed to read the key from stdin: {e}"),
                    )
                })?;
                text
            };
            let value = value.trim();
            if value.is_empty() {
                return Err(Failure::new(
                    exit::USAGE,
                    "no key given (pipe it on stdin or type it at the prompt)",
                ));
            }
            keychain
                .store(&provider, &Secret::new(value))
                .map_err(|e| {
                    let vars = EnvSecrets::variables(&provider).join(" or ");
                    Failure::new(
                        exit::STORE,
                        format!("{e}\n  (on a machine without a keychain, set {vars} instead)"),
                    )
                })?;
            let _ = writeln!(stderr, "stored the {provider} key in the keychain");
            Ok(exit::OK)
        }
        KeysAction::Remove { provider } => {
            valid_provider(&provider)?;
            match keychain
                .remove(&provider)
                .map_err(|e| Failure::new(exit::STORE, e))?
            {
                true => {
                    let _ = writeln!(stderr, "removed the {provider} key from the keychain");
                    Ok(exit::OK)
                }
                false => Err(Failure::new(
                    exit::NOT_FOUND,
                    format!("no {provider} key in the keychain"),
                )),
            }
        }
        KeysAction::List => {
            let mut stdout = std::io::stdout().lock();
            for (provider, _) in relavium_llm::config::BUILT_IN {
                let from_keychain = matches!(keychain.api_key(provider), Ok(Some(_)));
                let from_env = EnvSecrets::variables(provider)
                    .into_iter()
                    .find(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
                let source = match (from_keychain, from_env) {
                    (true, _) => "keychain".to_owned(),
                    (false, Some(var)) => format!("environment ({var})"),
                    (false, None) => "none".to_owned(),
                };
                write_line(&mut stdout, &format!("{provider:<10} {source}"));
            }
            Ok(exit::OK)
        }
    }
}
