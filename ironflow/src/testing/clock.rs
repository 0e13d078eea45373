//! The fake clock a test run's sleeps, waits and retry delays advance.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::step::Clock;

/// A fake clock: starts at a fixed time and moves only when told.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<SystemTime>>);

impl FakeClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        FakeClock(Arc::new(Mutex::new(start)))
    }

    /// The current fake time.
    pub fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward to `t` (never backwards).
    pub fn advance_to(&self, t: SystemTime) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if t > *now {
            *now = t;
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let now = self.now();
        self.advance_to(now + d);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        FakeClock::now(self)
    }
}
