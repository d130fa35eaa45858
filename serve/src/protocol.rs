//! The protocol of `relavium serve --stdio`, version [`PROTOCOL_VERSION`]: every method's
//! params and result and every notification's params, as serde types with a JSON Schema.
//! [`METHODS`] and [`NOTIFICATIONS`] list them; [`protocol_schema`] is the published
//! `docs/schema/serve.schema.json` (a test fails when it is stale), which the VS Code
//! extension's TypeScript types are generated from. `docs/serve.md` is the prose.
//!
//! Field names are camelCase; runs, events, gates, plans and reports are the engine's own
//! types, the same JSON as the CLI's `--json` and the desktop's bridge.

pub use relavium_host::ModelFetch;
use relavium_host::keys::KeyStatus;
use relavium_runtime::report::FileValidation;
use relavium_runtime::state::RetryPlan;
use relavium_runtime::store::{RunQuery, RunSummary, WaitingGate};
use relavium_runtime::tree::ActorTree;
use relavium_runtime::{ErrorReport, RunEvent};
use relavium_view::canvas::InputField;
use relavium_view::{RunPatch, RunView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this server speaks best.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every version this server speaks (the client's `initialize` names those it speaks; the
/// highest both know is used).
pub const SUPPORTED_VERSIONS: &[u32] = &[1];

/// The JSON-RPC error code of a request that was understood but failed: its `data` is an
/// [`ErrorReport`] (a stable `kind`, a message, a hint).
pub const REQUEST_FAILED: i32 = -32000;

/// The error code of a request sent before `initialize` (as LSP's).
pub const NOT_INITIALIZED: i32 = -32002;

/// One method: its name, its params' and result's type names in the schema, and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    /// The method (`run/start`).
    pub name: &'static str,
    /// The params' definition in the schema.
    pub params: &'static str,
    /// The result's definition in the schema.
    pub result: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// The methods a client calls.
pub const METHODS: &[Method] = &[
    Method {
        name: "initialize",
        params: "InitializeParams",
        result: "InitializeResult",
        doc: "First: negotiates the protocol version and says what the client can do.",
    },
    Method {
        name: "shutdown",
        params: "Empty",
        result: "ShutdownResult",
        doc: "Lets this process's runs go gracefully (resumable) and refuses new ones; then close stdin or send `exit`.",
    },
    Method {
        name: "workflow/validate",
        params: "ValidateParams",
        result: "FileValidation",
        doc: "Checks a workflow or agent file, as saved or as given: every problem with its location.",
    },
    Method {
        name: "workflow/describe",
        params: "PathParams",
        result: "WorkflowDescription",
        doc: "A workflow's name, inputs (with types and defaults) and node ids.",
    },
    Method {
        name: "run/start",
        params: "StartParams",
        result: "Started",
        doc: "Starts a run of a workflow file (as saved); the built-in default model is fetched first if a run needs it (`model/fetch`).",
    },
    Method {
        name: "run/subscribe",
        params: "SubscribeParams",
        result: "Subscribed",
        doc: "Pushes a run's events after a sequence number as `run/event`, then `subscription/ended`. Works for a run of any process.",
    },
    Method {
        name: "run/watch",
        params: "RunParams",
        result: "Subscribed",
        doc: "Pushes a run's view as it changes — `run/patch`: the rows that changed (node states, outputs, costs), the money, the actors, and the events since the last patch — at most every 50 ms, then `subscription/ended`. The view is folded in Rust; a client replaces the rows a patch carries.",
    },
    Method {
        name: "unsubscribe",
        params: "UnsubscribeParams",
        result: "Unsubscribed",
        doc: "Ends a subscription (`run/subscribe` or `gates/subscribe`).",
    },
    Method {
        name: "run/cancel",
        params: "CancelParams",
        result: "Delivered",
        doc: "Cancels a run wherever it runs: at once, or letting the attempts under way finish.",
    },
    Method {
        name: "run/resume",
        params: "RunParams",
        result: "Started",
        doc: "Takes over a run no process runs (interrupted, suspended, exited at a gate).",
    },
    Method {
        name: "run/planRetry",
        params: "RetryParams",
        result: "RetryPlan",
        doc: "What retrying a run from a node would reuse, run again and spend at most; starts nothing.",
    },
    Method {
        name: "run/retry",
        params: "RetryParams",
        result: "Started",
        doc: "Starts a new run retrying a run from a node (what it needs is reused, not run or billed again).",
    },
    Method {
        name: "run/get",
        params: "RunParams",
        result: "RunDetail",
        doc: "One run: its history line and its view (node states, outputs, cost, budget, actors).",
    },
    Method {
        name: "run/tree",
        params: "RunParams",
        result: "ActorTree",
        doc: "A run's actor tree: live when this process runs it, else as its events left it.",
    },
    Method {
        name: "runs/list",
        params: "RunQuery",
        result: "RunList",
        doc: "The history's runs, newest first, filtered.",
    },
    Method {
        name: "runs/subscribe",
        params: "RunQuery",
        result: "Subscribed",
        doc: "Pushes the runs a query lists as `runs/changed`: the list now, then each time a run starts, moves on or ends — in any process.",
    },
    Method {
        name: "gate/decide",
        params: "DecideParams",
        result: "Delivered",
        doc: "Approves or rejects a waiting gate of any run, wherever it runs.",
    },
    Method {
        name: "gates/waiting",
        params: "Empty",
        result: "GateList",
        doc: "Every gate waiting for a decision, in every run of this machine.",
    },
    Method {
        name: "gates/subscribe",
        params: "Empty",
        result: "Subscribed",
        doc: "Pushes the waiting gates as `gates/changed`: the set now, then each time it changes.",
    },
    Method {
        name: "keys/status",
        params: "Empty",
        result: "KeyList",
        doc: "Where each provider's key would come from outside this client (keychain, environment, none); never a key.",
    },
];

/// The one method the server calls on the client: only when the client said it can.
pub const CLIENT_METHODS: &[Method] = &[Method {
    name: "secrets/get",
    params: "SecretsGetParams",
    result: "SecretsGetResult",
    doc: "The provider's key, asked at each call that needs one (the client's secret storage); `null` falls back to the keychain, then the environment.",
}];

/// One notification: its name, its params' type name in the schema, and what it says.
#[derive(Debug, Clone, Copy)]
pub struct NotificationSpec {
    /// The notification.
    pub name: &'static str,
    /// Its params' definition in the schema.
    pub params: &'static str,
    /// What it says.
    pub doc: &'static str,
}

/// The notifications the server sends.
pub const NOTIFICATIONS: &[NotificationSpec] = &[
    NotificationSpec {
        name: "run/event",
        params: "RunEventParams",
        doc: "One event of a subscribed run, in sequence order, the same JSON as `relavium run --json` prints.",
    },
    NotificationSpec {
        name: "run/patch",
        params: "RunPatchParams",
        doc: "What changed in a watched run's view since the last patch (the first carries it whole).",
    },
    NotificationSpec {
        name: "subscription/ended",
        params: "SubscriptionEnded",
        doc: "A subscription delivered its run's terminal event (or could not go on: `error`).",
    },
    NotificationSpec {
        name: "runs/changed",
        params: "RunsChanged",
        doc: "The runs a `runs/subscribe` query lists, each time the list changes.",
    },
    NotificationSpec {
        name: "gates/changed",
        params: "GatesChanged",
        doc: "The gates waiting in every run, each time the set changes.",
    },
    NotificationSpec {
        name: "model/fetch",
        params: "ModelFetch",
        doc: "Progress of the built-in default model's download before a first run.",
    },
];

/// No params (or no result fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

/// `initialize`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The protocol versions the client speaks.
    pub protocol_versions: Vec<u32>,
    /// Who the client is (for the logs).
    #[serde(default)]
    pub client: Option<ClientInfo>,
    /// What the client can do.
    #[serde(default)]
    pub capabilities: ClientCapabilities,
    /// The folders the client works in (absolute paths, an editor's workspace folders): the
    /// workflow files the server is asked to read must be inside one of them. Left out or
    /// empty: the server's working directory.
    #[serde(default)]
    pub roots: Vec<String>,
}

/// Who a client is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// Its name (`relavium-vscode`).
    pub name: String,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
}

/// What a client can do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientCapabilities {
    /// It answers `secrets/get` with keys from its own secret storage.
    pub secrets: bool,
}

/// `initialize`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The version this connection speaks.
    pub protocol_version: u32,
    /// Who the server is.
    pub server: ServerInfo,
    /// The methods it answers.
    pub methods: Vec<String>,
    /// The notifications it sends.
    pub notifications: Vec<String>,
    /// Why runs cannot start, when the server could not build its engine (a broken
    /// configuration): every method but `workflow/*` and `keys/status` fails with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_error: Option<ErrorReport>,
}

/// Who a server is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// `relavium`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// `shutdown`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownResult {
    /// The runs this process let go: unfinished, resumable (`run/resume`, `relavium resume`).
    pub suspended: Vec<String>,
}

/// `workflow/validate`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateParams {
    /// The file (absolute, or relative to the server's working directory).
    pub path: String,
    /// Its text as the client holds it (unsaved); the saved file when left out.
    #[serde(default)]
    pub text: Option<String>,
}

/// A file's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathParams {
    /// The file (absolute, or relative to the server's working directory).
    pub path: String,
}

/// `workflow/describe`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDescription {
    /// The workflow's file.
    pub path: String,
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The inputs a run asks for.
    pub inputs: Vec<InputField>,
    /// Its node ids, as written (sub-workflows' nodes are `parent.child`).
    pub nodes: Vec<String>,
}

/// `run/start`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartParams {
    /// The workflow file (as saved).
    pub path: String,
    /// The inputs, typed as the workflow declares them (defaults apply to those left out).
    #[serde(default)]
    pub inputs: Map<String, Value>,
}

/// A run that started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// Its id.
    pub run_id: String,
}

/// A run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunParams {
    /// Its id.
    pub run_id: String,
}

/// `run/subscribe`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeParams {
    /// The run.
    pub run_id: String,
    /// Only events after this sequence number: 0 for all, the last one seen to pick up
    /// where a connection left off (nothing is lost or repeated).
    #[serde(default)]
    pub after: u64,
}

/// A subscription that started: its notifications carry this id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscribed {
    /// Its id.
    pub subscription: u64,
}

/// `unsubscribe`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnsubscribeParams {
    /// The subscription.
    pub subscription: u64,
}

/// `unsubscribe`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unsubscribed {
    /// Whether it was still going.
    pub ended: bool,
}

/// `run/event`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEventParams {
    /// The subscription.
    pub subscription: u64,
    /// The event.
    pub event: RunEvent,
}

/// `run/patch`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPatchParams {
    /// The subscription.
    pub subscription: u64,
    /// What changed.
    pub patch: RunPatch,
}

/// `subscription/ended`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionEnded {
    /// The subscription.
    pub subscription: u64,
    /// Why it stopped before its run's end, if it did (the history could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// `gates/changed`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatesChanged {
    /// The subscription.
    pub subscription: u64,
    /// Every gate waiting now, oldest request first.
    pub gates: Vec<WaitingGate>,
}

/// `runs/changed`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunsChanged {
    /// The subscription.
    pub subscription: u64,
    /// The runs the query lists now, newest first.
    pub runs: Vec<RunSummary>,
}

/// `run/cancel`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelParams {
    /// The run.
    pub run_id: String,
    /// Let the attempts under way finish (their results are kept); start nothing new.
    #[serde(default)]
    pub graceful: bool,
    /// Why (recorded in the run's history).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `run/planRetry`'s and `run/retry`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryParams {
    /// The earlier run.
    pub run_id: String,
    /// The node to run again from.
    pub node: String,
}

/// `gate/decide`'s params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecideParams {
    /// The run.
    pub run_id: String,
    /// The gate node.
    pub node: String,
    /// The item, for a gate inside a `map`.
    #[serde(default)]
    pub item: Option<u32>,
    /// Approve (the run goes on) or reject.
    pub approve: bool,
    /// A comment recorded with the decision.
    #[serde(default)]
    pub comment: Option<String>,
    /// Who decides (default: the login name).
    #[serde(default)]
    pub by: Option<String>,
}

/// What became of a command given to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    /// `applied` (live in this process, done), `ignored` (live here, nothing to change) or
    /// `recorded` (for the process that runs it, or the next to resume it).
    pub delivery: Delivery,
    /// For `recorded`: whether another process runs the run right now.
    #[serde(default)]
    pub live_elsewhere: bool,
}

/// How a command reached its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Applied at once.
    Applied,
    /// Changed nothing.
    Ignored,
    /// Recorded in the store.
    Recorded,
}

/// `run/get`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDetail {
    /// Its history line (for a run not over, `live` says whether a process runs it now).
    pub summary: RunSummary,
    /// Its view as of its last recorded event.
    pub view: RunView,
}

/// `runs/list`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunList {
    /// The runs, newest first.
    pub runs: Vec<RunSummary>,
}

/// `gates/waiting`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateList {
    /// Every gate waiting, oldest request first.
    pub gates: Vec<WaitingGate>,
}

/// `keys/status`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    /// Each built-in provider.
    pub keys: Vec<KeyStatus>,
}

/// `secrets/get`'s params (server → client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretsGetParams {
    /// The provider whose key a call needs (`anthropic`).
    pub provider: String,
}

/// `secrets/get`'s result (client → server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretsGetResult {
    /// The key, or `null` when the client has none for this provider.
    #[serde(default)]
    pub key: Option<String>,
}

/// Every type of the protocol, for the schema (one definition each).
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct ServeProtocol {
    empty: Empty,
    initialize_params: InitializeParams,
    initialize_result: InitializeResult,
    shutdown_result: ShutdownResult,
    validate_params: ValidateParams,
    file_validation: FileValidation,
    path_params: PathParams,
    workflow_description: WorkflowDescription,
    start_params: StartParams,
    started: Started,
    run_params: RunParams,
    subscribe_params: SubscribeParams,
    subscribed: Subscribed,
    unsubscribe_params: UnsubscribeParams,
    unsubscribed: Unsubscribed,
    run_event_params: RunEventParams,
    run_patch_params: RunPatchParams,
    subscription_ended: SubscriptionEnded,
    gates_changed: GatesChanged,
    runs_changed: RunsChanged,
    model_fetch: ModelFetch,
    cancel_params: CancelParams,
    retry_params: RetryParams,
    retry_plan: RetryPlan,
    decide_params: DecideParams,
    delivered: Delivered,
    run_detail: RunDetail,
    actor_tree: ActorTree,
    run_query: RunQuery,
    run_list: RunList,
    gate_list: GateList,
    key_list: KeyList,
    secrets_get_params: SecretsGetParams,
    secrets_get_result: SecretsGetResult,
    error_report: ErrorReport,
}

/// The JSON Schema of the protocol (`docs/schema/serve.schema.json`): every type under
/// `$defs`, and `x-methods` / `x-clientMethods` / `x-notifications` naming each method's and
/// notification's params and result there.
pub fn protocol_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(ServeProtocol)).unwrap_or_default();
    let reference = |name: &str| Value::String(format!("#/$defs/{name}"));
    let methods = |list: &[Method]| -> Value {
        list.iter()
            .map(|m| {
                let entry = serde_json::json!({
                    "params": reference(m.params),
                    "result": reference(m.result),
                    "description": m.doc,
                });
                (m.name.to_owned(), entry)
            })
            .collect::<Map<String, Value>>()
            .into()
    };
    let notifications: Map<String, Value> = NOTIFICATIONS
        .iter()
        .map(|n| {
            let entry = serde_json::json!({"params": reference(n.params), "description": n.doc});
            (n.name.to_owned(), entry)
        })
        .collect();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "title".into(),
            Value::String(format!(
                "relavium serve protocol, version {PROTOCOL_VERSION}"
            )),
        );
        object.insert("x-protocolVersion".into(), PROTOCOL_VERSION.into());
        object.insert("x-methods".into(), methods(METHODS));
        object.insert("x-clientMethods".into(), methods(CLIENT_METHODS));
        object.insert("x-notifications".into(), notifications.into());
        object.insert(
            "x-errors".into(),
            serde_json::json!({
                "-32700": "parse error: the frame or its JSON could not be read",
                "-32600": "invalid request: not a JSON-RPC 2.0 request (batches are refused)",
                "-32601": "method not found",
                "-32602": "invalid params: the field and what was expected",
                (NOT_INITIALIZED.to_string()): "a request before `initialize`",
                (REQUEST_FAILED.to_string()): "the request failed: `data` is an ErrorReport (`kind` is stable)",
            }),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_and_notification_names_a_defined_type() {
        let schema = protocol_schema();
        let defs = schema["$defs"].as_object().unwrap();
        for m in METHODS.iter().chain(CLIENT_METHODS) {
            for name in [m.params, m.result] {
                assert!(defs.contains_key(name), "{} names {name}", m.name);
            }
        }
        for n in NOTIFICATIONS {
            assert!(defs.contains_key(n.params), "{} names {}", n.name, n.params);
        }
    }
}
