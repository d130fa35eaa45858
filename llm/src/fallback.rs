//! Provider health, as data the engine's actors share: providers that failed repeatedly cool
//! down ([`Cooldowns`]), so a run does not keep knocking on a provider that is down. Which model
//! a failed call falls back to is the attempt machine's choice
//! (`relavium_runtime::attempt::choose_fallback`), told which providers are cooling. Time is
//! passed in, never read.

use std::collections::HashMap;
use std::time::{Duration, Instant};

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

    #[test]
    fn repeated_failures_rest_a_provider_and_a_success_resets_the_count() {
        let mut cooldowns = Cooldowns::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        cooldowns.failure("openai", t0);
        assert!(!cooldowns.is_cooling("openai", t0));
        cooldowns.failure("openai", t0);
        assert!(cooldowns.is_cooling("openai", t0 + Duration::from_secs(59)));
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
