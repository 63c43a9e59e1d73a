//! Agent backends and supervision against the scripted fake agent and the recorded outputs of
//! the real CLIs: adapters' command lines, output parsing, timeouts, process groups, prompts.

mod argv;
#[path = "../common/mod.rs"]
mod common;
mod fake;
mod narrative;
mod samples;
mod supervision;
