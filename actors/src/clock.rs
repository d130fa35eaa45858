//! The wall clock the engine stamps events with (tests can inject their own [`Clock`]).

use relavium_runtime::{Clock, Timestamp};
use std::time::SystemTime;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from(SystemTime::now())
    }
}
