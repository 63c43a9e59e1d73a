//! The per-task circuit breaker: ends a task's attempts early when they stop making progress or
//! keep failing the same way.

use crate::config::model::CircuitBreakerSection;

/// The per-task circuit breaker: consecutive attempts without changes, and the same failure
/// repeated. A threshold of 0 disables that rule.
#[derive(Default)]
pub(super) struct Breaker {
    no_progress: u32,
    last_failure: Option<String>,
    repeats: u32,
}

impl Breaker {
    pub(super) fn record(
        &mut self,
        changed: usize,
        failure: &str,
        settings: &CircuitBreakerSection,
    ) -> Option<String> {
        self.no_progress = if changed == 0 {
            self.no_progress + 1
        } else {
            0
        };
        if self.last_failure.as_deref() == Some(failure) {
            self.repeats += 1;
        } else {
            self.last_failure = Some(failure.to_string());
            self.repeats = 1;
        }
        if settings.no_progress_threshold > 0 && self.no_progress >= settings.no_progress_threshold
        {
            return Some(format!(
                "no file changed in {} attempts in a row (circuit_breaker.no_progress_threshold)",
                self.no_progress
            ));
        }
        if settings.repeated_error_threshold > 0
            && self.repeats >= settings.repeated_error_threshold
        {
            return Some(format!(
                "the same failure {} times in a row (circuit_breaker.repeated_error_threshold): {failure}",
                self.repeats
            ));
        }
        None
    }
}
