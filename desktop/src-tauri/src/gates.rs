//! Every waiting gate of this machine — this app's runs and any CLI's — watched through the
//! engine ([`relavium_actors::Engine::watch_waiting_gates`]): each change is sent to the
//! WebView as `gates`, and a gate that starts waiting raises an OS notification (once per
//! gate; a desktop without a notification service just goes without).

use crate::state::Desktop;
use relavium_runtime::store::WaitingGate;
use std::collections::BTreeSet;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

/// A gate's identity: run, node, item.
fn key(gate: &WaitingGate) -> (String, String, Option<u32>) {
    (
        gate.run_id.0.clone(),
        gate.gate.node_id.clone(),
        gate.gate.item,
    )
}

/// Starts the watch for the app's life.
pub fn watch<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        // On the async runtime: the engine's watch spawns a task of its own.
        let mut changes = app.state::<Desktop>().engine().watch_waiting_gates();
        let mut told: BTreeSet<(String, String, Option<u32>)> = BTreeSet::new();
        while let Some(gates) = changes.recv().await {
            let _ = app.emit("gates", &gates);
            for gate in &gates {
                if told.insert(key(gate)) {
                    let _ = app
                        .notification()
                        .builder()
                        .title(format!("{} waits for you", gate.workflow_name))
                        .body(&gate.gate.message)
                        .show();
                }
            }
            told.retain(|k| gates.iter().any(|g| &key(g) == k));
        }
    });
}
