//! Relavium's engine: the supervised actor tree that executes runs.
//!
//! ```text
//! Engine (one per process)                      engine.rs — the API every surface uses
//!  └─ RunSupervisor (one per run)               supervisor.rs — state machine, sequence numbers
//!      └─ NodeActor (one per node attempt)      node.rs
//!          └─ ProviderCallActor (one per call)  call.rs
//!  events → EventHub (live, lossless)           bus.rs
//!         → StoreWriter thread (durable)        writer.rs
//! ```
//!
//! - [`workspace`]: reading workflow and agent files from disk;
//! - [`files`]: reading a named file safely (regular files only, bounded);
//! - [`clock`]: the system clock.
//!
//! **Architecture invariant:** nothing here blocks an actor: the store is written by one
//! dedicated thread and read through `spawn_blocking`. Messages between the run supervisor and
//! its nodes are plain data, ready to cross processes in the cluster phase.
//!
//! **API boundary:** surfaces use [`Engine`], [`RunHandle`], [`EventStream`] and the loaders in
//! [`workspace`]; the actors themselves are internal.

pub mod budget;
pub mod bus;
pub mod call;
pub mod clock;
pub mod context;
pub mod engine;
pub mod error;
pub mod files;
pub mod mcp;
pub mod node;
pub mod protocol;
pub mod recovery;
pub mod supervisor;
pub mod telemetry;
pub mod tools;
pub mod workspace;
pub mod writer;

pub use bus::EventStream;
pub use engine::{
    Delivery, Engine, EngineConfig, EngineError, FOLLOW_POLL, LiveRun, RunHandle, StartRun,
    WATCH_RUNS_POLL,
};
