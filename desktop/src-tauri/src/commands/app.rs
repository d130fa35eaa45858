//! Closing the app while runs of this process are in flight: the window does not just go —
//! the WebView is told (`close-requested`, with the runs) and asks the user, who picks a
//! [`CloseChoice`]. Either way the runs stay resumable and nothing written is lost.

use crate::protocol::{CloseChoice, CloseRequested};
use crate::state::Desktop;
use relavium_runtime::ErrorReport;
use tauri::{AppHandle, Emitter, Manager, Runtime, State, Window};

/// The runs of this process in flight.
#[tauri::command]
pub async fn runs_in_flight(desktop: State<'_, Desktop>) -> Result<Vec<String>, ErrorReport> {
    Ok(desktop
        .engine()
        .live_runs()
        .into_iter()
        .map(|id| id.0)
        .collect())
}

/// Closes the app as the user chose.
#[tauri::command]
pub async fn close_app<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    choice: CloseChoice,
) -> Result<(), ErrorReport> {
    match choice {
        CloseChoice::Stay => return Ok(()),
        CloseChoice::Leave => {}
        CloseChoice::StopGracefully => desktop.engine().suspend_runs().await,
    }
    desktop.flush().await;
    app.exit(0);
    Ok(())
}

/// The window's close button: with no run in flight the app closes; otherwise the close is
/// held and the WebView asked.
pub fn on_close_requested<R: Runtime>(window: &Window<R>, api: &tauri::CloseRequestApi) {
    let desktop = window.state::<Desktop>();
    let runs: Vec<String> = desktop
        .engine()
        .live_runs()
        .into_iter()
        .map(|id| id.0)
        .collect();
    if runs.is_empty() {
        return;
    }
    api.prevent_close();
    let _ = window.emit("close-requested", CloseRequested { runs });
}
