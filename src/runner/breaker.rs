//! The per-task circuit breaker: ends a task's attempts early when they stop making progress or
//! repeat themselves.

use std::hash::{Hash, Hasher};
use std::path::Path;

use crate::config::model::CircuitBreakerSection;

/// The per-task circuit breaker: consecutive attempts without changes, and the same failure
/// after the same change repeated. A threshold of 0 disables that rule.
#[derive(Default)]
pub(super) struct Breaker {
    no_progress: u32,
    last: Option<(String, String)>,
    repeats: u32,
}

/// What an attempt's change is, as a hash of its changed paths and their contents (or their
/// absence): two attempts that leave the same files the same way have the same fingerprint.
pub(super) fn fingerprint(root: &Path, changed: &[String]) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    for path in changed {
        path.hash(&mut hasher);
        let full = crate::snapshot::key::path(root, path);
        match std::fs::metadata(&full) {
            Ok(meta) if meta.len() <= crate::snapshot::HASH_LIMIT => {
                std::fs::read(&full).unwrap_or_default().hash(&mut hasher);
            }
            Ok(meta) => meta.len().hash(&mut hasher),
            Err(_) => "absent".hash(&mut hasher),
        }
    }
    format!("{:016x}", hasher.finish())
}

impl Breaker {
    /// Records an attempt that changed `changed` files (with this `fingerprint`) and failed with
    /// `failure`; the rule that trips, if one does. A failure repeats only when the change that
    /// led to it is the same too: a different change failing the same check is progress.
    pub(super) fn record(
        &mut self,
        changed: usize,
        fingerprint: &str,
        failure: &str,
        settings: &CircuitBreakerSection,
    ) -> Option<String> {
        self.no_progress = if changed == 0 {
            self.no_progress + 1
        } else {
            0
        };
        let now = (fingerprint.to_string(), failure.to_string());
        if self.last.as_ref() == Some(&now) {
            self.repeats += 1;
        } else {
            self.last = Some(now);
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
                "the same change failed the same way {} times in a row (circuit_breaker.repeated_error_threshold)",
                self.repeats
            ));
        }
        None
    }
}
