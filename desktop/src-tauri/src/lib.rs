//! Relavium's desktop agent center: a Tauri v2 shell over the engine façade.
//!
//! **Architecture invariant:** this crate has no engine logic. Every command is a few lines
//! from the WebView to [`relavium_host`] (the engine, documents, keys) and
//! [`relavium_view`] (canvas, run views, live patches, comparisons) and back; a gap found here
//! is fixed there. The WebView draws what it is sent; it never folds events or reads files.
//!
//! - [`commands`]: what the WebView may invoke (the list is `commands/names.rs`: `build.rs`
//!   grants the main window exactly those);
//! - [`state::Desktop`]: the engine, the open documents, the watches;
//! - [`protocol`]: the types that cross the IPC bridge, and the JSON Schema the WebView's
//!   TypeScript types are generated from (`docs/schema/desktop.schema.json`);
//! - [`gates`]: a watch over every run's waiting gates (this process's and the CLI's), sent
//!   to the WebView and to the OS notifications.
//!
//! No command returns a provider key: keys go from the WebView to the keychain, and only
//! where each provider's key comes from goes back (a test calls every command with a sentinel
//! key stored and finds it in no answer).

pub mod commands;
pub mod gates;
pub mod protocol;
pub mod state;

pub use state::Desktop;

use relavium_host::{Home, Host};
use std::process::ExitCode;
use tauri::{Manager, Runtime};

/// `builder` (any runtime: the tests give Tauri's mock one) with the app's state and
/// commands. Plugins that need a real desktop (notifications) are added by [`run`].
pub fn configure<R: Runtime>(builder: tauri::Builder<R>, desktop: Desktop) -> tauri::Builder<R> {
    builder.manage(desktop).invoke_handler(commands::handler())
}

/// The app's context: its configuration, icons, assets, and the capabilities granting the main
/// window the app's commands (the tests build the mock app on it, so the same ACL applies).
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!()
}

/// Starts the app on the Relavium home of the environment (`RELAVIUM_HOME`, the platform
/// directories), as the CLI does.
pub fn run() -> ExitCode {
    let desktop = match tauri::async_runtime::block_on(async {
        let host = Host::open(Home::from_env())?;
        Desktop::new(host)
    }) {
        Ok(desktop) => desktop,
        Err(error) => {
            let report = error.report();
            // Before any window exists, stderr is the only place to say it.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("relavium-desktop: {}", report.message);
            }
            return ExitCode::from(1);
        }
    };
    let app = configure(tauri::Builder::<tauri::Wry>::new(), desktop)
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            gates::watch(app.handle().clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                commands::app::on_close_requested(window, api);
            }
        })
        .build(context());
    match app {
        Ok(app) => {
            app.run(|handle, event| {
                if let tauri::RunEvent::Exit = event {
                    let desktop = handle.state::<Desktop>();
                    tauri::async_runtime::block_on(desktop.flush());
                }
            });
            ExitCode::SUCCESS
        }
        Err(error) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("relavium-desktop: failed to start: {error}");
            }
            ExitCode::from(1)
        }
    }
}
