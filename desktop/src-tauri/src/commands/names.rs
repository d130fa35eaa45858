// Every command the WebView may invoke — read by `build.rs` (one permission each, granted to the
// main window) and by the app (the handler, and the test that calls every one of them).

/// The app's commands, by the name the WebView invokes.
pub const COMMANDS: &[&str] = &[
    "open_workflow",
    "edit_workflow",
    "save_workflow",
    "place_node",
    "open_group",
    "start_run",
    "watch_run",
    "stop_watching",
    "decide_gate",
    "cancel_run",
    "plan_retry",
    "retry_from",
    "list_runs",
    "run_page",
    "run_events",
    "replay_run",
    "compare_runs",
    "waiting_gates",
    "key_status",
    "store_key",
    "remove_key",
    "runs_in_flight",
    "close_app",
];
