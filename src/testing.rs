//! What the unit tests share: the seeded pseudo-random sequence of their property tests.

/// A seeded pseudo-random sequence (a 64-bit linear congruential generator): the same seed
/// gives the same run, so a failing case can be run again.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next number below `n`.
    pub(crate) fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
