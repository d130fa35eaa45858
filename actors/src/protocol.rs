//! The protocol between a run's supervisor and its node attempts: every message a
//! [`RunSupervisor`](crate::supervisor::RunSupervisor) receives, and the plain serde data they
//! carry — so a node attempt can run in another process (a cluster worker) and report back.
//! Reply ports are ractor's RPC channels (`ractor_cluster` carries them across nodes itself).
//!
//! A node attempt gets its task ([`NodeTask`](relavium_runtime::state::NodeTask), data) and
//! a [`WorkerContext`](crate::context::WorkerContext) its own process builds; it never gets
//! the supervisor's store writer or its prices: the supervisor prices reservations and
//! settlements from token counts, and makes a reservation durable before it grants it.
//!
//! The node's own mailbox (`node::NodeMsg`: its call actor's stream, its tasks) and the call
//! actor's (`call::CallReport`) stay inside one process and are not part of this protocol.

use ractor::RpcReplyPort;
use relavium_runtime::event::{BudgetExceeded, ErrorInfo, EventKind, LlmRequestEvent};
use relavium_runtime::store::RunCommand;
use relavium_runtime::workflow::NodeIndex;
use relavium_runtime::{ModelRef, StoreError, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a run supervisor receives.
#[derive(Debug, ractor_cluster_derive::RactorMessage)]
pub enum SupervisorMsg {
    /// Begin the run.
    Start,
    /// A node actor's report.
    Node(NodeReport),
    /// A node asks to reserve a call's worst case before the call leaves the machine. The
    /// supervisor prices it (its catalog: the token bounds at full price), reserves it with
    /// the run's ledger, publishes the call's `llm:request` carrying the reservation, and —
    /// for a priced call — answers only once that event is durable.
    Reserve(ReserveCall, RpcReplyPort<Reservation>),
    /// An attempt's time is up.
    TimedOut {
        /// The node.
        node: NodeIndex,
        /// The item, for one item of a `map` node.
        item: Option<u32>,
        /// The attempt.
        attempt: u32,
        /// The limit that passed.
        timeout_ms: u64,
    },
    /// A scheduled retry is due.
    RetryDue {
        /// The node.
        node: NodeIndex,
        /// The item, for one item of a `map` node.
        item: Option<u32>,
        /// The attempt to start.
        attempt: u32,
    },
    /// A gate's timeout may have passed.
    GateDue {
        /// The gate node.
        node: NodeIndex,
        /// The item, for one item of a `map` node.
        item: Option<u32>,
    },
    /// A command from a surface (this process or, through the store, another one). The reply,
    /// if asked for, says whether it applied (a decision for a gate that is not waiting, or a
    /// cancellation of a run that is over, does not).
    Command(RunCommand, Option<RpcReplyPort<bool>>),
    /// Let the run go without ending it (its process is closing): start nothing more, let the
    /// attempts under way finish, make everything durable, release the run and stop. The run
    /// stays unfinished, for any process to resume.
    Suspend,
    /// The store refused the run's events: stop everything at once (the writer publishes
    /// nothing more of this run), keep the lease's record so the run stays resumable.
    StoreFailed(StoreError),
}

/// A call to reserve: what the supervisor needs to price it and announce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveCall {
    /// The call's `llm:request`, published once the reservation is granted.
    pub request: LlmRequestEvent,
    /// The node.
    pub node: NodeIndex,
    /// The item, for one item of a `map` node.
    pub item: Option<u32>,
    /// Its attempt.
    pub attempt: u32,
    /// The call.
    pub call_id: String,
    /// Its model.
    pub model: ModelRef,
    /// An upper bound of its prompt's tokens.
    pub input_tokens: u64,
    /// The most tokens it may generate.
    pub max_output_tokens: u32,
}

/// The answer to a reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reservation {
    /// The call may go.
    Granted,
    /// A cap refuses it (the event to publish says which).
    Denied(BudgetExceeded),
    /// It cannot be accounted: its model has no price, its prompt cannot fit the model's
    /// context, or its reservation could not be recorded.
    Refused(ErrorInfo),
    /// The attempt is no longer wanted: do not call.
    Stale,
}

/// A report from one node attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    /// The node.
    pub node: NodeIndex,
    /// The item, for one item of a `map` node.
    pub item: Option<u32>,
    /// The attempt.
    pub attempt: u32,
    /// What it says.
    pub kind: NodeReportKind,
}

/// What a node attempt reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeReportKind {
    /// An event to publish (`llm:*`, `actor:*` of its call).
    Event(EventKind),
    /// The attempt produced its output.
    Succeeded {
        /// The output.
        output: Value,
        /// Tokens used.
        usage: Usage,
    },
    /// The attempt failed.
    Failed(ErrorInfo),
    /// A call ended: replace its reservation by the cost of what it used (none releases it).
    Settle {
        /// The call.
        call_id: String,
        /// Its model.
        model: String,
        /// The tokens it used; `None` when that is unknown but may not be zero (the stream
        /// broke after the model had produced text): it is then charged its reservation,
        /// reconciled.
        usage: Option<Usage>,
    },
}
