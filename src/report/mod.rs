//! What autodev leaves for people to read, made from the run's events (`crate::journal`): each
//! sink here turns them into one output: the console and `logs/autodev.log` ([`log`]),
//! `progress.txt` ([`progress`]), `logs/runtime-status.json` ([`runtime_status`], its state folded from the events by
//! [`run_view`]),
//! `logs/experiments.jsonl` ([`experiments`]) and `logs/dashboard.html` ([`dashboard`],
//! written with the run status). The journal itself is not a report: it is the record the rest
//! stand on.

pub mod dashboard;
pub mod experiments;
pub mod log;
pub mod progress;
pub mod run_view;
pub mod runtime_status;
pub mod status_writer;
