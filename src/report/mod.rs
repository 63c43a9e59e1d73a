//! What autodev leaves for people and tools to read: run status today; progress.txt, logs,
//! experiments.jsonl and the dashboard as the run loop grows.

pub mod runtime_status;
