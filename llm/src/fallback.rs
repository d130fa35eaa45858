//! The fallback chain, as data the engine's actors drive.
//!
//! A chain is an ordered list of `provider/model` references. [`FallbackChain::next`] says which
//! model to try after a failure, given the error's decision: the next model for an ordinary
//! fallback, the next one with a *larger* context window after a context overflow. Providers that
//! failed repeatedly cool down: [`Cooldowns`] skips them for a while, so a run does not keep
//! knocking on a provider that is down. Time is passed in, never read.

use crate::pricing::Catalog;
use crate::types::ErrorDecision;
use relavium_runtime::ModelRef;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// An ordered list of models to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackChain {
    models: Vec<ModelRef>,
}

impl FallbackChain {
    /// A chain starting with `primary`, then `fallbacks` in order (duplicates dropped).
    pub fn new(primary: ModelRef, fallbacks: impl IntoIterator<Item = ModelRef>) -> FallbackChain {
        let mut models = vec![primary];
        for model in fallbacks {
            if !models.contains(&model) {
                models.push(model);
            }
        }
        FallbackChain { models }
    }

    /// The models, in order.
    pub fn models(&self) -> &[ModelRef] {
        &self.models
    }

    /// The model to try after `current` failed with `decision`, skipping cooling-down
    /// providers; `None` when the chain is exhausted (or the decision is not a fallback).
    pub fn next(
        &self,
        current: &ModelRef,
        decision: ErrorDecision,
        catalog: &Catalog,
        date: &str,
        cooldowns: &Cooldowns,
        now: Instant,
    ) -> Option<&ModelRef> {
        let position = self.models.iter().position(|m| m == current)?;
        let context_of = |m: &ModelRef| catalog.price(m, date).map(|p| p.context).ok();
        let after = self.models[position + 1..]
            .iter()
            .filter(|m| !cooldowns.is_cooling(m.provider(), now));
        match decision {
            ErrorDecision::FallBack => after.into_iter().next(),
            ErrorDecision::FallBackToLargerContext => {
                let current_context = context_of(current)?;
                after
                    .into_iter()
                    .find(|m| context_of(m).is_some_and(|c| c > current_context))
            }
            ErrorDecision::Retry | ErrorDecision::Fail => None,
        }
    }
}

/// Consecutive failures per provider, and until when each one rests.
#[derive(Debug, Clone)]
pub struct Cooldowns {
    threshold: u32,
    period: Duration,
    providers: HashMap<String, (u32, Option<Instant>)>,
}

impl Default for Cooldowns {
    /// Three failures in a row rest a provider for one minute.
    fn default() -> Self {
        Cooldowns::new(3, Duration::from_secs(60))
    }
}

impl Cooldowns {
    /// After `threshold` consecutive failures a provider rests for `period`.
    pub fn new(threshold: u32, period: Duration) -> Cooldowns {
        Cooldowns {
            threshold: threshold.max(1),
            period,
            providers: HashMap::new(),
        }
    }

    /// Records a failed call to `provider`.
    pub fn failure(&mut self, provider: &str, now: Instant) {
        let entry = self
            .providers
            .entry(provider.to_owned())
            .or_insert((0, None));
        entry.0 += 1;
        if entry.0 >= self.threshold {
            entry.1 = Some(now + self.period);
            entry.0 = 0;
        }
    }

    /// Records a successful call: the count starts again.
    pub fn success(&mut self, provider: &str) {
        self.providers.remove(provider);
    }

    /// Whether `provider` is resting at `now`.
    pub fn is_cooling(&self, provider: &str, now: Instant) -> bool {
        self.providers
            .get(provider)
            .and_then(|(_, until)| *until)
            .is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> ModelRef {
        ModelRef::parse(text).unwrap()
    }

    fn chain() -> FallbackChain {
        FallbackChain::new(
            m("anthropic/claude-sonnet-4-5"),
            [
                m("openai/gpt-4o-mini"),
                m("gemini/gemini-2.5-flash"),
                m("openai/gpt-4o-mini"),
            ],
        )
    }

    #[test]
    fn fallback_goes_down_the_chain_and_ends() {
        let (catalog, cooldowns, now) = (Catalog::embedded(), Cooldowns::default(), Instant::now());
        let c = chain();
        assert_eq!(c.models().len(), 3, "duplicates dropped");
        let next = c.next(
            &m("anthropic/claude-sonnet-4-5"),
            ErrorDecision::FallBack,
            &catalog,
            "2026-11-23",
            &cooldowns,
            now,
        );
        assert_eq!(next, Some(&m("openai/gpt-4o-mini")));
        let last = c.next(
            &m("gemini/gemini-2.5-flash"),
            ErrorDecision::FallBack,
            &catalog,
            "2026-11-23",
            &cooldowns,
            now,
        );
        assert_eq!(last, None);
        let retry = c.next(
            &m("anthropic/claude-sonnet-4-5"),
            ErrorDecision::Retry,
            &catalog,
            "2026-11-23",
            &cooldowns,
            now,
        );
        assert_eq!(retry, None, "a retry is not a fallback");
    }

    #[test]
    fn context_overflow_skips_to_a_larger_window() {
        let (catalog, cooldowns, now) = (Catalog::embedded(), Cooldowns::default(), Instant::now());
        // Sonnet has 200k; gpt-4o-mini only 128k; Gemini Flash ~1M.
        let c = chain();
        let next = c.next(
            &m("anthropic/claude-sonnet-4-5"),
            ErrorDecision::FallBackToLargerContext,
            &catalog,
            "2026-11-23",
            &cooldowns,
            now,
        );
        assert_eq!(next, Some(&m("gemini/gemini-2.5-flash")));
    }

    #[test]
    fn repeated_failures_rest_a_provider() {
        let catalog = Catalog::embedded();
        let mut cooldowns = Cooldowns::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        cooldowns.failure("openai", t0);
        assert!(!cooldowns.is_cooling("openai", t0));
        cooldowns.failure("openai", t0);
        assert!(cooldowns.is_cooling("openai", t0 + Duration::from_secs(59)));
        let c = chain();
        let next = c.next(
            &m("anthropic/claude-sonnet-4-5"),
            ErrorDecision::FallBack,
            &catalog,
            "2026-11-23",
            &cooldowns,
            t0,
        );
        assert_eq!(
            next,
            Some(&m("gemini/gemini-2.5-flash")),
            "openai is resting"
        );
        assert!(!cooldowns.is_cooling("openai", t0 + Duration::from_secs(61)));
        cooldowns.failure("gemini", t0);
        cooldowns.success("gemini");
        cooldowns.failure("gemini", t0);
        assert!(
            !cooldowns.is_cooling("gemini", t0),
            "a success resets the count"
        );
    }
}
