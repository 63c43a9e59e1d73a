#!/usr/bin/env bash
# Decision quality of experiments: how often the keep/discard policy keeps a candidate that
# changed nothing (false keeps), and how often it keeps a real gain, under a seeded noisy
# synthetic metric. Each trial measures a baseline and a candidate with `repeats` samples each and
# calls the same `experiment::decide` the run loop uses.
#
# Target (issue 7): with 5% noise and repeats = 5, false keeps under 5% while at least 90% of true
# 10% improvements are kept. "5% noise" is read as each sample landing anywhere within ±5% of the
# true value; normal noise with a 5% standard deviation (wider tails) is printed beside it. The
# repeats = 1 rows are the single-sample policy every peer but one uses.
#
# The second table (issue 20) puts the same decision on a drifting machine: linear drift (0.3%
# faster per sample) and a 2% step at a random moment, under normal and skewed 1% noise, at
# repeats 3, 5 and 9. For each it prints false keeps of no-op changes and keeps of true 5% gains,
# measured sequentially (the reference's series, then the candidate's, as every peer does) and
# interleaved (ABBA pairs judged by a paired test, as `autodev run` does with repeats >= 3).
# Goals at repeats = 5 under the linear drift: <= 5% false keeps, >= 90% of true 5% gains kept.
#
# The third table (issue 30) takes interleaved pairs one at a time and stops once the evidence is
# clear (`completion.sequential`): false keeps of no-op changes, keeps of true 5% gains, and the
# mean pairs taken. Goal under the linear drift with 1% noise: <= 1% false keeps, >= 90% of 5%
# gains kept, <= 5 pairs on average.
#
# Usage: bench/experiment.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet --example decisions
