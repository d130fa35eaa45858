//! The live actor tree of a run, rebuilt from its `actor:*` events.
//!
//! Every surface (the desktop's live view, the CLI, a cluster monitor) sees the same tree
//! because it is derived from the same events: who is running, under whom, since when, for
//! which node. [`ActorTree::apply`] folds one event in; stopped actors leave the tree.

use crate::event::{ActorKind, EventKind, RunEvent, Timestamp};
use serde::{Deserialize, Serialize};

/// One live actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorEntry {
    /// Its name in the run (`node:draft#1`).
    pub actor: String,
    /// What kind of actor.
    pub kind: ActorKind,
    /// Its supervisor.
    pub parent: Option<String>,
    /// The node it works for.
    pub node_id: Option<String>,
    /// When it started.
    pub since: Timestamp,
}

/// The actors of a run that are alive, in the order they started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActorTree {
    actors: Vec<ActorEntry>,
}

impl ActorTree {
    /// The tree after `events`.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> ActorTree {
        let mut tree = ActorTree::default();
        for event in events {
            tree.apply(event);
        }
        tree
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &RunEvent) {
        match &event.kind {
            EventKind::ActorSpawned(s) => self.actors.push(ActorEntry {
                actor: s.actor.clone(),
                kind: s.kind,
                parent: s.parent.clone(),
                node_id: s.node_id.clone(),
                since: event.timestamp,
            }),
            EventKind::ActorStopped(s) => self.actors.retain(|a| a.actor != s.actor),
            _ => {}
        }
    }

    /// The live actors, in the order they started.
    pub fn actors(&self) -> &[ActorEntry] {
        &self.actors
    }

    /// The live children of `parent`.
    pub fn children<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a ActorEntry> + 'a {
        self.actors
            .iter()
            .filter(move |a| a.parent.as_deref() == Some(parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ActorSpawned, ActorStopped, RunId};

    fn event(n: u64, kind: EventKind) -> RunEvent {
        RunEvent {
            run_id: RunId("r".into()),
            sequence_number: n,
            timestamp: Timestamp(n),
            kind,
        }
    }

    fn spawned(n: u64, actor: &str, kind: ActorKind, parent: Option<&str>) -> RunEvent {
        event(
            n,
            EventKind::ActorSpawned(ActorSpawned {
                actor: actor.into(),
                kind,
                parent: parent.map(Into::into),
                node_id: None,
            }),
        )
    }

    #[test]
    fn the_tree_follows_spawns_and_stops() {
        let events = vec![
            spawned(1, "run", ActorKind::RunSupervisor, None),
            spawned(2, "node:a#1", ActorKind::Node, Some("run")),
            spawned(3, "call:a#1.1", ActorKind::ProviderCall, Some("node:a#1")),
            spawned(4, "node:b#1", ActorKind::Node, Some("run")),
            event(
                5,
                EventKind::ActorStopped(ActorStopped {
                    actor: "call:a#1.1".into(),
                    kind: ActorKind::ProviderCall,
                    reason: "completed".into(),
                }),
            ),
        ];
        let tree = ActorTree::from_events(&events);
        let names: Vec<&str> = tree.actors().iter().map(|a| a.actor.as_str()).collect();
        assert_eq!(names, ["run", "node:a#1", "node:b#1"]);
        assert_eq!(tree.children("run").count(), 2);
        assert_eq!(tree.children("node:a#1").count(), 0);
        assert_eq!(tree.actors()[1].since, Timestamp(2));
    }
}
