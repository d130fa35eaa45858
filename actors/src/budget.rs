//! The budget ledger of one run: caps, reservations and settlements, in integer micro-cents.
//!
//! A call reserves its worst case (prompt upper bound + `max_tokens` at full price) *before* it
//! leaves the machine; the reservation is granted only if what is already spent plus what is
//! reserved by calls in flight plus this worst case stays within every cap (the run's and the
//! node's, and each enclosing sub-workflow's share). When the call ends, its reservation is replaced by its real cost. Because the run
//! supervisor owns the ledger and handles one message at a time, parallel calls can never
//! jointly exceed a cap.

use relavium_runtime::MicroCents;
use relavium_runtime::event::BudgetScope;
use relavium_runtime::workflow::{Budget, NodeIndex};
use std::collections::HashMap;

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    /// The cap it would break.
    pub scope: BudgetScope,
    /// The worst case asked for.
    pub requested: MicroCents,
    /// The cap.
    pub limit: MicroCents,
    /// Already spent or reserved under that cap.
    pub committed: MicroCents,
}

/// A settled call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// What the call cost.
    pub cost: MicroCents,
    /// The node's total so far.
    pub node_cost: MicroCents,
    /// The run's total so far.
    pub run_cost: MicroCents,
}

#[derive(Debug, Default, Clone, Copy)]
struct Account {
    spent: MicroCents,
    reserved: MicroCents,
}

impl Account {
    fn committed(&self) -> MicroCents {
        self.spent + self.reserved
    }
}

/// One run's ledger.
#[derive(Debug, Default)]
pub struct Ledger {
    budget: Budget,
    run: Account,
    nodes: HashMap<NodeIndex, Account>,
    reservations: HashMap<String, (NodeIndex, MicroCents)>,
    /// Sub-workflow shares: (enclosing share, cap).
    scopes: Vec<(Option<usize>, Option<MicroCents>)>,
    scope_accounts: Vec<Account>,
    /// The innermost sub-workflow of each node.
    node_scopes: Vec<Option<usize>>,
}

impl Ledger {
    /// A ledger enforcing `budget`.
    pub fn new(budget: Budget) -> Ledger {
        Ledger {
            budget,
            ..Ledger::default()
        }
    }

    /// Adds the shares of sub-workflows: `scopes[i]` is (enclosing scope, cap) and
    /// `node_scopes[n]` the innermost scope of node `n`.
    pub fn with_scopes(
        mut self,
        scopes: Vec<(Option<usize>, Option<MicroCents>)>,
        node_scopes: Vec<Option<usize>>,
    ) -> Ledger {
        self.scope_accounts = vec![Account::default(); scopes.len()];
        self.scopes = scopes;
        self.node_scopes = node_scopes;
        self
    }

    /// The scopes enclosing `node`, innermost first.
    fn scope_chain(&self, node: NodeIndex) -> Vec<usize> {
        let mut chain = Vec::new();
        let mut current = self.node_scopes.get(node).copied().flatten();
        while let Some(s) = current {
            chain.push(s);
            current = self.scopes.get(s).and_then(|(parent, _)| *parent);
        }
        chain
    }

    /// Reserves `amount` for call `call_id` of `node`, or says which cap refuses it.
    pub fn reserve(
        &mut self,
        node: NodeIndex,
        call_id: &str,
        amount: MicroCents,
    ) -> Result<(), Denial> {
        let account = self.nodes.get(&node).copied().unwrap_or_default();
        let chain = self.scope_chain(node);
        let mut checks = vec![(BudgetScope::Node, self.budget.node, account.committed())];
        for &s in &chain {
            checks.push((
                BudgetScope::Workflow,
                self.scopes[s].1,
                self.scope_accounts[s].committed(),
            ));
        }
        checks.push((BudgetScope::Run, self.budget.run, self.run.committed()));
        for (scope, cap, committed) in checks {
            if let Some(limit) = cap
                && committed.0.saturating_add(amount.0) > limit.0
            {
                return Err(Denial {
                    scope,
                    requested: amount,
                    limit,
                    committed,
                });
            }
        }
        self.run.reserved += amount;
        self.nodes.entry(node).or_default().reserved += amount;
        for s in chain {
            self.scope_accounts[s].reserved += amount;
        }
        self.reservations.insert(call_id.to_owned(), (node, amount));
        Ok(())
    }

    /// Replaces call `call_id`'s reservation by its real cost (zero releases it).
    pub fn settle(&mut self, node: NodeIndex, call_id: &str, cost: MicroCents) -> Settlement {
        if let Some((reserved_node, amount)) = self.reservations.remove(call_id) {
            self.run.reserved = MicroCents(self.run.reserved.0.saturating_sub(amount.0));
            let account = self.nodes.entry(reserved_node).or_default();
            account.reserved = MicroCents(account.reserved.0.saturating_sub(amount.0));
            for s in self.scope_chain(reserved_node) {
                let scope = &mut self.scope_accounts[s];
                scope.reserved = MicroCents(scope.reserved.0.saturating_sub(amount.0));
            }
        }
        for s in self.scope_chain(node) {
            self.scope_accounts[s].spent += cost;
        }
        self.run.spent += cost;
        let account = self.nodes.entry(node).or_default();
        account.spent += cost;
        Settlement {
            cost,
            node_cost: account.spent,
            run_cost: self.run.spent,
        }
    }

    /// What call `call_id` has reserved and not yet settled (zero if nothing).
    pub fn reserved(&self, call_id: &str) -> MicroCents {
        self.reservations
            .get(call_id)
            .map_or(MicroCents::ZERO, |(_, amount)| *amount)
    }

    /// The reservations not yet settled, as (call id, node, amount), in call-id order.
    pub fn unsettled(&self) -> Vec<(String, NodeIndex, MicroCents)> {
        let mut calls: Vec<_> = self
            .reservations
            .iter()
            .map(|(call_id, (node, amount))| (call_id.clone(), *node, *amount))
            .collect();
        calls.sort();
        calls
    }

    /// What the run has spent.
    pub fn run_spent(&self) -> MicroCents {
        self.run.spent
    }

    /// What is left of the run's cap after spending and reservations, if it has one.
    pub fn run_left(&self) -> Option<MicroCents> {
        self.budget
            .run
            .map(|cap| MicroCents(cap.0.saturating_sub(self.run.committed().0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(run: u64, node: u64) -> Budget {
        Budget {
            run: Some(MicroCents(run)),
            node: Some(MicroCents(node)),
        }
    }

    #[test]
    fn reservations_in_flight_count_against_the_caps() {
        let mut ledger = Ledger::new(budget(100, 60));
        ledger.reserve(0, "a", MicroCents(50)).unwrap();
        ledger.reserve(1, "b", MicroCents(40)).unwrap();
        let denied = ledger.reserve(2, "c", MicroCents(20)).unwrap_err();
        assert_eq!(
            (denied.scope, denied.committed),
            (BudgetScope::Run, MicroCents(90))
        );
        let denied = ledger.reserve(0, "d", MicroCents(20)).unwrap_err();
        assert_eq!(denied.scope, BudgetScope::Node);
        // Settling at the real (smaller) cost frees the difference.
        let s = ledger.settle(0, "a", MicroCents(10));
        assert_eq!(
            (s.cost, s.node_cost, s.run_cost),
            (MicroCents(10), MicroCents(10), MicroCents(10))
        );
        assert_eq!(ledger.run_left(), Some(MicroCents(50)));
        ledger.reserve(2, "c", MicroCents(20)).unwrap();
    }

    #[test]
    fn random_parallel_loads_never_exceed_a_cap() {
        // A deterministic pseudo-random mix of reservations and settlements.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for trial in 0..200 {
            let cap = 1_000 + next() % 10_000;
            let mut ledger = Ledger::new(Budget {
                run: Some(MicroCents(cap)),
                node: Some(MicroCents(cap / 2)),
            });
            let mut in_flight: Vec<(NodeIndex, String, u64)> = Vec::new();
            for step in 0..300 {
                if next() % 3 != 0 {
                    let node = (next() % 5) as NodeIndex;
                    let amount = 1 + next() % 800;
                    let id = format!("{trial}-{step}");
                    if ledger.reserve(node, &id, MicroCents(amount)).is_ok() {
                        in_flight.push((node, id, amount));
                    }
                } else if !in_flight.is_empty() {
                    let (node, id, amount) =
                        in_flight.swap_remove((next() % in_flight.len() as u64) as usize);
                    ledger.settle(node, &id, MicroCents(next() % (amount + 1)));
                }
                let committed = ledger.run.committed().0;
                assert!(committed <= cap, "trial {trial}: {committed} > {cap}");
                for account in ledger.nodes.values() {
                    assert!(account.committed().0 <= cap / 2);
                }
            }
        }
    }

    #[test]
    fn a_sub_workflow_s_share_caps_its_nodes_together() {
        // Nodes 1 and 2 are in scope 1, itself inside scope 0; node 0 is outside.
        let mut ledger = Ledger::new(budget(1_000, 1_000)).with_scopes(
            vec![
                (None, Some(MicroCents(100))),
                (Some(0), Some(MicroCents(60))),
            ],
            vec![None, Some(1), Some(1)],
        );
        ledger.reserve(1, "a", MicroCents(40)).unwrap();
        let denied = ledger.reserve(2, "b", MicroCents(30)).unwrap_err();
        assert_eq!(
            (denied.scope, denied.limit),
            (BudgetScope::Workflow, MicroCents(60))
        );
        ledger.reserve(0, "c", MicroCents(500)).unwrap();
        ledger.settle(1, "a", MicroCents(10));
        ledger.reserve(2, "b", MicroCents(30)).unwrap();
    }

    #[test]
    fn without_caps_everything_is_granted_and_counted() {
        let mut ledger = Ledger::new(Budget::default());
        ledger.reserve(0, "a", MicroCents(u64::MAX / 2)).unwrap();
        assert_eq!(ledger.settle(0, "a", MicroCents(7)).run_cost, MicroCents(7));
        assert_eq!(ledger.run_left(), None);
    }
}
