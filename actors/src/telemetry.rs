//! Observability: metrics and tracing spans of the engine.
//!
//! **Metrics** are derived from the run events in one place ([`observe`], called by the run
//! supervisor for every event it numbers), through the `metrics` facade: the surface decides
//! where they go (the CLI renders them as Prometheus text with `RELAVIUM_METRICS_FILE`). Names:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `relavium_runs_total` | counter | `outcome` (completed, failed, cancelled) |
//! | `relavium_node_duration_seconds` | histogram | — |
//! | `relavium_llm_calls_total` | counter | `provider` |
//! | `relavium_tokens_total` | counter | `model`, `direction` (input, output, cache_read, cache_write) |
//! | `relavium_cost_micro_cents_total` | counter | `model` |
//! | `relavium_retries_total` | counter | — |
//! | `relavium_fallbacks_total` | counter | — |
//! | `relavium_budget_denials_total` | counter | `scope` (run, node, workflow) |
//! | `relavium_gate_wait_seconds` | histogram | `decision` |
//!
//! **Spans** follow the actor tree: `relavium.run` → `relavium.node` (one per attempt) →
//! `gen_ai.chat` (one per provider call), with attribute names after the OpenTelemetry GenAI
//! conventions (`gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens`, …)
//! plus `relavium.cost_micro_cents`. Spans are at info level; no prompt, output or key is ever
//! recorded on a span or logged.

use relavium_runtime::event::{BudgetScope, EventKind};
use relavium_runtime::{RunEvent, Usage};

/// Records the metrics one event implies.
pub fn observe(event: &RunEvent) {
    match &event.kind {
        EventKind::RunCompleted(_) => runs("completed"),
        EventKind::RunFailed(_) => runs("failed"),
        EventKind::RunCancelled(_) => runs("cancelled"),
        EventKind::NodeCompleted(p) if p.reused_from.is_none() => {
            metrics::histogram!("relavium_node_duration_seconds")
                .record(p.duration_ms as f64 / 1000.0);
        }
        EventKind::LlmRequest(p) => {
            metrics::counter!("relavium_llm_calls_total", "provider" => p.provider.clone())
                .increment(1);
        }
        EventKind::LlmResponse(p) => tokens(&p.model, &p.usage),
        EventKind::CostUpdated(p) => {
            metrics::counter!("relavium_cost_micro_cents_total", "model" => p.model.clone())
                .increment(p.cost.0);
        }
        EventKind::NodeRetrying(_) => metrics::counter!("relavium_retries_total").increment(1),
        EventKind::LlmFallback(_) => metrics::counter!("relavium_fallbacks_total").increment(1),
        EventKind::BudgetExceeded(p) => {
            let scope = match p.scope {
                BudgetScope::Run => "run",
                BudgetScope::Node => "node",
                BudgetScope::Workflow => "workflow",
            };
            metrics::counter!("relavium_budget_denials_total", "scope" => scope).increment(1);
        }
        EventKind::GateResolved(p) => {
            metrics::histogram!("relavium_gate_wait_seconds", "decision" => p.decision.as_str())
                .record(p.waited_ms as f64 / 1000.0);
        }
        _ => {}
    }
}

fn runs(outcome: &'static str) {
    metrics::counter!("relavium_runs_total", "outcome" => outcome).increment(1);
}

fn tokens(model: &str, usage: &Usage) {
    for (direction, count) in [
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_read", usage.cache_read_tokens),
        ("cache_write", usage.cache_write_tokens),
    ] {
        if count > 0 {
            metrics::counter!(
                "relavium_tokens_total",
                "model" => model.to_owned(),
                "direction" => direction
            )
            .increment(count);
        }
    }
}

/// The span of a run.
pub(crate) fn run_span(run_id: &str, workflow: &str) -> tracing::Span {
    tracing::info_span!(
        "relavium.run",
        relavium.run.id = run_id,
        relavium.workflow.name = workflow,
        relavium.run.status = tracing::field::Empty,
        relavium.cost_micro_cents = tracing::field::Empty,
    )
}

/// The span of one node attempt, inside its run's.
pub(crate) fn node_span(run: &tracing::Span, node_id: &str, attempt: u32) -> tracing::Span {
    tracing::info_span!(
        parent: run,
        "relavium.node",
        relavium.node.id = node_id,
        relavium.node.attempt = attempt,
        relavium.node.status = tracing::field::Empty,
    )
}

/// The span of one provider call, inside its node attempt's.
pub(crate) fn call_span(
    node: &tracing::Span,
    call_id: &str,
    provider: &str,
    model: &str,
    max_tokens: Option<u32>,
) -> tracing::Span {
    tracing::info_span!(
        parent: node,
        "gen_ai.chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = provider,
        gen_ai.request.model = model,
        gen_ai.request.max_tokens = max_tokens,
        gen_ai.response.model = tracing::field::Empty,
        gen_ai.response.finish_reasons = tracing::field::Empty,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        relavium.call.id = call_id,
        relavium.cost_micro_cents = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}
