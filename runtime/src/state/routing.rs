//! Routers, `when` conditions and the skips they cause.

use super::*;

impl RunMachine {
    /// The target of the first route of `router` (node `node`) whose `when` holds.
    pub(super) fn choose_route(
        &self,
        node: NodeIndex,
        router: &crate::workflow::RouterStep,
    ) -> Result<Option<String>, ErrorInfo> {
        for (i, route) in router.routes.iter().enumerate() {
            let holds = match &route.when {
                None => true,
                Some(when) => self.truthy(when, self.ctx(node, None), || {
                    format!(
                        "the `when` of route {} of router `{}`",
                        i + 1,
                        self.workflow.nodes[node].id.value
                    )
                })?,
            };
            if holds {
                return Ok(Some(route.to.value.clone()));
            }
        }
        Ok(None)
    }

    /// Evaluates an expression and reads it as a condition (empty, zero, null and false are
    /// false); `what` names it in the error.
    pub(super) fn truthy(
        &self,
        when: &Template,
        ctx: Ctx,
        what: impl Fn() -> String,
    ) -> Result<bool, ErrorInfo> {
        let value = self
            .templates
            .evaluate(when.text(), &self.context(when, ctx))
            .map_err(|e| {
                ErrorInfo::new(
                    "expression.evaluate",
                    format!("{} could not be evaluated: {}", what(), e.message),
                )
            })?;
        Ok(match value {
            Value::Null => false,
            Value::Bool(b) => b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        })
    }

    /// Whether `node`'s `when` holds (true without one).
    pub(super) fn condition_holds(&self, node: NodeIndex) -> Result<bool, ErrorInfo> {
        let Some(when) = &self.workflow.nodes[node].when else {
            return Ok(true);
        };
        self.truthy(when, self.ctx(node, None), || {
            format!(
                "the `when` of node `{}`",
                self.workflow.nodes[node].id.value
            )
        })
    }

    /// Skips `node` and everything downstream of it that has not started — except a
    /// `join: any` node, which only counts the skipped need as settled and runs once its needs
    /// are all settled with at least one completed (it is skipped if all were skipped).
    pub(super) fn skip(
        &mut self,
        node: NodeIndex,
        reason: SkipReason,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let workflow = Arc::clone(&self.workflow);
        let mut stack = vec![(node, reason)];
        let mut ready = Vec::new();
        while let Some((n, why)) = stack.pop() {
            if self.nodes[n].status != NodeStatus::Pending {
                continue;
            }
            self.nodes[n].status = NodeStatus::Skipped;
            self.skipped += 1;
            actions.push(Action::Emit(EventKind::NodeSkipped(NodeSkipped {
                node_id: workflow.nodes[n].id.value.clone(),
                reason: why,
            })));
            for &d in workflow.graph.dependents(n).iter().rev() {
                if !workflow.nodes[d].join_any {
                    stack.push((d, SkipReason::UpstreamSkipped));
                    continue;
                }
                let slot = &mut self.nodes[d];
                slot.unmet_needs = slot.unmet_needs.saturating_sub(1);
                if slot.unmet_needs == 0 && slot.status == NodeStatus::Pending {
                    let any_done = workflow
                        .graph
                        .needs(d)
                        .iter()
                        .any(|&need| self.nodes[need].status == NodeStatus::Succeeded);
                    if any_done {
                        ready.push(d);
                    } else {
                        stack.push((d, SkipReason::UpstreamSkipped));
                    }
                }
            }
        }
        for d in ready {
            if self.status == RunStatus::Running {
                self.schedule(d, now, actions);
            }
        }
    }
}
