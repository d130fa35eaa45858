//! `relavium keys set|remove|list`: provider keys in the OS keychain — read from a hidden
//! prompt or stdin, never from the command line, never printed. The work is
//! [`relavium_host::keys`], shared with the desktop's settings page.

use crate::KeysAction;
use crate::exit;
use crate::failure::Failure;
use crate::output::write_line;
use relavium_host::keys::{self, KeyError, KeySource};
use std::io::{IsTerminal, Write};

fn failure(error: KeyError) -> Failure {
    let code = match error {
        KeyError::BadProvider(_) | KeyError::Empty => exit::USAGE,
        KeyError::NotStored(_) => exit::NOT_FOUND,
        KeyError::Keychain { .. } => exit::STORE,
    };
    let message = match error {
        KeyError::Empty => "no key given (pipe it on stdin or type it at the prompt)".to_owned(),
        KeyError::Keychain { message, variables } => {
            format!("{message}\n  (on a machine without a keychain, set {variables} instead)")
        }
        other => other.to_string(),
    };
    Failure::new(code, message)
}

pub(crate) fn keys(action: KeysAction) -> Result<u8, Failure> {
    let mut stderr = std::io::stderr();
    match action {
        KeysAction::Set { provider } => {
            keys::check_provider(&provider).map_err(failure)?;
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
            keys::store_key(&provider, &value).map_err(failure)?;
            let _ = writeln!(stderr, "stored the {provider} key in the keychain");
            Ok(exit::OK)
        }
        KeysAction::Remove { provider } => {
            keys::remove_key(&provider).map_err(failure)?;
            let _ = writeln!(stderr, "removed the {provider} key from the keychain");
            Ok(exit::OK)
        }
        KeysAction::List => {
            let mut stdout = std::io::stdout().lock();
            for status in keys::key_status() {
                let source = match status.source {
                    KeySource::Keychain => "keychain".to_owned(),
                    KeySource::Environment { variable } => format!("environment ({variable})"),
                    KeySource::None => "none".to_owned(),
                };
                write_line(&mut stdout, &format!("{:<10} {source}", status.provider));
            }
            Ok(exit::OK)
        }
    }
}
