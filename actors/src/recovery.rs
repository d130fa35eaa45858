//! Taking over a run whose process stopped: everything `resume` needs, folded from the run's
//! recorded events.
//!
//! One pass over the run's history folds both the run state machine ([`Restoring`]: completed
//! nodes keep their outputs, interrupted attempts start again) and what only the engine knows
//! about: the actors that were alive when the process stopped (closed in the tree with
//! `actor:stopped`), the money already settled (replayed into the new ledger), and the calls that
//! were in flight — reserved before they left the machine but never settled. Their real cost is
//! unknown (the provider may have billed them), so each is charged at its reservation, its
//! worst case, and announced as a reconciled `cost:updated`: a cap stays safe even across a
//! crash.

use relavium_runtime::event::{ActorKind, EventKind};
use relavium_runtime::state::{RestoreError, Restoring, RunMachine};
use relavium_runtime::workflow::NodeIndex;
use relavium_runtime::{MicroCents, ModelRef, RunEvent, Workflow};
use std::collections::HashMap;
use std::sync::Arc;

/// A call that was reserved and sent, and never settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsettledCall {
    pub(crate) node: NodeIndex,
    pub(crate) call_id: String,
    pub(crate) model: String,
    pub(crate) reserved: MicroCents,
}

/// A run ready to be taken over.
#[derive(Debug)]
pub struct Recovery {
    /// The restored machine (feed it `Input::Resume`).
    pub(crate) machine: RunMachine,
    /// The last recorded sequence number: the new process continues after it.
    pub(crate) last_sequence: u64,
    /// Actors spawned and never stopped, in spawn order.
    pub(crate) lost_actors: Vec<(String, ActorKind)>,
    /// Calls already settled: (node, call, cost), to replay into the ledger.
    pub(crate) settled: Vec<(NodeIndex, String, MicroCents)>,
    /// Calls in flight when the process stopped.
    pub(crate) unsettled: Vec<UnsettledCall>,
}

/// Folds a run's events (all of them, `run:started` first) into a [`Recovery`].
pub(crate) fn recover(
    workflow: Arc<Workflow>,
    default_model: ModelRef,
    default_fallback: Vec<ModelRef>,
    events: &[RunEvent],
) -> Result<Recovery, RestoreError> {
    // One pass over the history: the machine and what only the engine knows, together.
    let first = events.first().ok_or(RestoreError::NotStarted)?;
    let mut restoring = Restoring::begin(Arc::clone(&workflow), default_model, first)?;
    let mut actors: Vec<(String, ActorKind)> = Vec::new();
    let mut settled = Vec::new();
    let mut requested: HashMap<String, UnsettledCall> = HashMap::new();
    let mut request_order: Vec<String> = Vec::new();
    let node = |id: &str| {
        workflow
            .node_index(id)
            .ok_or_else(|| RestoreError::UnknownNode(id.to_owned()))
    };
    for event in events {
        restoring.apply(event)?;
        match &event.kind {
            EventKind::ActorSpawned(p) => actors.push((p.actor.clone(), p.kind)),
            EventKind::ActorStopped(p) => {
                if let Some(i) = actors.iter().rposition(|(name, _)| name == &p.actor) {
                    actors.remove(i);
                }
            }
            EventKind::LlmRequest(p) => {
                if let Some(reserved) = p.reserved.filter(|r| r.0 > 0) {
                    request_order.push(p.call_id.clone());
                    requested.insert(
                        p.call_id.clone(),
                        UnsettledCall {
                            node: node(&p.node_id)?,
                            call_id: p.call_id.clone(),
                            model: format!("{}/{}", p.provider, p.model),
                            reserved,
                        },
                    );
                }
            }
            EventKind::CostUpdated(p) => {
                requested.remove(&p.call_id);
                settled.push((node(&p.node_id)?, p.call_id.clone(), p.cost));
            }
            _ => {}
        }
    }
    let machine = restoring.finish().with_default_fallback(default_fallback);
    let unsettled = request_order
        .iter()
        .filter_map(|id| requested.remove(id))
        .collect();
    Ok(Recovery {
        machine,
        last_sequence: events.last().map_or(0, |e| e.sequence_number),
        lost_actors: actors,
        settled,
        unsettled,
    })
}
