//! Where a node is in its life ([`NodeStatus`]) and where a run is ([`RunStatus`]).

use super::*;

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Waiting for its needs.
    Pending,
    /// An attempt is under way.
    Running,
    /// An attempt failed; the next one waits for its delay.
    Retrying,
    /// It produced its output.
    Succeeded,
    /// It failed.
    Failed,
    /// It will not run.
    Skipped,
    /// It was stopped while running.
    Cancelled,
    /// A gate waiting for a decision.
    Waiting,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not yet started.
    Pending,
    /// Nodes are running.
    Running,
    /// Finished with every node done.
    Completed,
    /// Stopped by a failure.
    Failed,
    /// Stopped on request.
    Cancelled,
    /// Waiting for a gate's decision, with nothing else to do.
    Paused,
}

impl RunStatus {
    /// The status as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Paused => "paused",
        }
    }

    /// Parses [`RunStatus::as_str`]'s output.
    pub fn parse(text: &str) -> Option<RunStatus> {
        Some(match text {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            "paused" => RunStatus::Paused,
            _ => return None,
        })
    }

    /// Whether the run is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}
