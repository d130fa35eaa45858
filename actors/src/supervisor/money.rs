//! The run's money, kept by its supervisor: the ledger built from the workflow's caps and its
//! sub-workflows' shares, reservations priced from a node's token bounds and granted once
//! durable, and the calls a run left unsettled when it ended, charged at their reservation.

use super::*;

/// A run's ledger: its caps and its sub-workflows' shares.
pub(super) fn ledger_for(workflow: &relavium_runtime::Workflow) -> Ledger {
    Ledger::new(workflow.budget).with_scopes(
        workflow
            .scopes
            .iter()
            .map(|s| (s.parent, s.budget))
            .collect(),
        workflow.nodes.iter().map(|n| n.scope).collect(),
    )
}

impl RunSupervisor {
    /// Prices a call's worst case (its token bounds at full price), reserves it with the
    /// ledger and publishes its `llm:request`; a priced call is granted only once that event is
    /// durable — so after a crash `resume` finds the reservation of a call that never settled
    /// and charges it. The durable wait runs in a task: the supervisor's mailbox never waits.
    pub(super) fn on_reserve(
        &self,
        state: &mut SupervisorState,
        call: ReserveCall,
        reply: RpcReplyPort<Reservation>,
    ) {
        let current = state
            .current
            .get(&(call.node, call.item))
            .and_then(|id| state.nodes.get(id))
            .is_some_and(|live| live.attempt == call.attempt && !live.stopping);
        if !current {
            let _ = reply.send(Reservation::Stale);
            return;
        }
        let date = state.clock.now().day();
        let date = date.as_str();
        let estimate = match state.catalog.worst_case(
            &call.model,
            date,
            call.input_tokens,
            call.max_output_tokens,
        ) {
            Ok(estimate) => estimate,
            Err(error) => {
                let kind = match error {
                    PricingError::TooLong { .. } => "llm.context_overflow",
                    _ => "budget.unpriced",
                };
                let _ = reply.send(Reservation::Refused(ErrorInfo::new(
                    kind,
                    error.to_string(),
                )));
                return;
            }
        };
        let price = match state.catalog.price(&call.model, date) {
            Ok(price) => price,
            Err(error) => {
                let refused = ErrorInfo::new("budget.unpriced", error.to_string());
                let _ = reply.send(Reservation::Refused(refused));
                return;
            }
        };
        let amount = estimate.cost;
        let model = call.model.to_string();
        if let Err(denial) = state.ledger.reserve(call.node, &call.call_id, amount) {
            let _ = reply.send(Reservation::Denied(BudgetExceeded {
                node_id: state.machine.workflow().node(call.node).id.value.clone(),
                call_id: call.call_id,
                model,
                scope: denial.scope,
                requested: denial.requested,
                limit: denial.limit,
                committed: denial.committed,
            }));
            return;
        }
        let mut request = call.request;
        request.reserved = (amount.0 > 0).then_some(amount);
        state.in_flight.insert(call.call_id, (model, price));
        state.emit(EventKind::LlmRequest(request));
        if amount.0 == 0 {
            let _ = reply.send(Reservation::Granted);
            return;
        }
        let writer = state.writer.clone();
        tokio::spawn(async move {
            let answer = match writer.flush().await {
                Ok(()) => Reservation::Granted,
                Err(error) => Reservation::Refused(ErrorInfo::new(
                    "engine.store",
                    format!("the call's reservation could not be recorded: {error}"),
                )),
            };
            let _ = reply.send(answer);
        });
    }

    /// Calls still unsettled when the run ends were stopped mid-flight (their node was cancelled
    /// because the run failed or was cancelled). The request left, so the provider may bill
    /// it, but its real cost is unknown: like a call lost in a crash, it is charged at its
    /// reservation (its worst case, already within every cap) and announced as reconciled, so
    /// the recorded cost never understates what may have been spent.
    pub(super) fn settle_abandoned_calls(&self, state: &mut SupervisorState) {
        for (call_id, node, reserved) in state.ledger.unsettled() {
            let model = state
                .in_flight
                .remove(&call_id)
                .map(|(model, _)| model)
                .unwrap_or_default();
            let settled = state.ledger.settle(node, &call_id, reserved);
            let run_budget_left = state.ledger.run_left();
            state.emit(EventKind::CostUpdated(CostUpdated {
                node_id: state.machine.workflow().node(node).id.value.clone(),
                call_id,
                model,
                cost: settled.cost,
                node_cost: settled.node_cost,
                run_cost: settled.run_cost,
                run_budget_left,
                reconciled: true,
            }));
        }
    }
}
