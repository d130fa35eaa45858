//! The settings page's keys: where each provider's key comes from, storing one in the OS
//! keychain, removing it — through [`relavium_host::keys`]. A key goes in; none ever comes
//! back out (every answer is a [`KeyStatus`] list).

use relavium_host::keys::{self, KeyStatus};
use relavium_runtime::ErrorReport;

/// Where each provider's key comes from.
#[tauri::command]
pub async fn key_status() -> Result<Vec<KeyStatus>, ErrorReport> {
    Ok(keys::key_status())
}

/// Stores `key` as `provider`'s in the keychain; where each key comes from now.
#[tauri::command]
pub async fn store_key(provider: String, key: String) -> Result<Vec<KeyStatus>, ErrorReport> {
    keys::store_key(&provider, &key).map_err(|e| e.report())?;
    Ok(keys::key_status())
}

/// Removes `provider`'s key from the keychain; where each key comes from now.
#[tauri::command]
pub async fn remove_key(provider: String) -> Result<Vec<KeyStatus>, ErrorReport> {
    keys::remove_key(&provider).map_err(|e| e.report())?;
    Ok(keys::key_status())
}
