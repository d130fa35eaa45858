//! Relavium's pure core: the workflow language and everything about a run that needs no IO.
//!
//! - [`load`]: workflow and agent files → a validated [`workflow::Workflow`], or every problem
//!   as a [`diagnostics::Diagnostic`] with its location and a hint;
//! - [`yaml`]: the spanned YAML tree the loader reads; [`source`]: files and positions;
//! - [`outline`]: a file's nodes as written (kind, needs, settings, where), valid or not;
//! - [`graph`]: the node dependency DAG; [`template`]: the sandboxed template engine;
//! - [`event`]: the canonical [`event::RunEvent`] union and its JSON Schema;
//! - [`money`]: micro-cents and token usage;
//! - [`state`]: the run state machine (data in, actions out);
//! - [`attempt`]: one node attempt as a machine (the tool loop, re-asks, fallback, denial);
//! - [`store`]: the storage trait the engine persists through, and the clock trait;
//! - [`report`]: failures and file problems as serde data, with stable kinds and codes.
//!
//! **Architecture invariant:** this crate does no IO and depends on no async runtime, HTTP
//! client or database (`cargo tree -p relavium-runtime` shows it). Anything that needs the
//! outside world takes a trait object from the caller.

pub mod attempt;
pub mod diagnostics;
pub mod event;
pub mod graph;
pub mod load;
pub mod money;
pub mod outline;
pub mod output;
pub mod report;
pub mod source;
pub mod state;
pub mod store;
pub mod template;
pub mod tree;
pub mod workflow;
pub mod yaml;

pub use diagnostics::{Diagnostic, DiagnosticCode, Diagnostics};
pub use event::{EventKind, RunEvent, RunId, Timestamp};
pub use load::{AgentLookup, AgentSource, load_agent, load_workflow};
pub use money::{MicroCents, Usage};
pub use report::{DiagnosticReport, ErrorKind, ErrorReport};
pub use source::{SourceFile, Span, Spanned};
pub use state::{Action, Input, RunMachine, RunOutcome, RunStatus};
pub use store::{Clock, RunStore, StoreError};
pub use workflow::{ModelRef, Workflow};
