//! The commands the WebView invokes, one module per page of the app: [`workflow`] (the
//! canvas), [`runs`] (starting, watching and steering runs), [`history`] (the run list, a
//! run's page, replay, compare), [`keys`] (the settings page) and [`app`] (closing with runs in
//! flight). Each answers with the protocol's types or an [`ErrorReport`](relavium_runtime::ErrorReport).

pub mod app;
pub mod history;
pub mod keys;
pub mod runs;
pub mod workflow;

include!("names.rs");

/// The handler of every command in [`COMMANDS`] (the test `every_command_is_handled` keeps
/// the two equal).
pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static
{
    tauri::generate_handler![
        workflow::open_workflow,
        workflow::edit_workflow,
        workflow::save_workflow,
        workflow::place_node,
        workflow::open_group,
        runs::start_run,
        runs::watch_run,
        runs::stop_watching,
        runs::decide_gate,
        runs::cancel_run,
        runs::plan_retry,
        runs::retry_from,
        history::list_runs,
        history::run_page,
        history::run_events,
        history::replay_run,
        history::compare_runs,
        runs::waiting_gates,
        keys::key_status,
        keys::store_key,
        keys::remove_key,
        app::runs_in_flight,
        app::close_app,
    ]
}
