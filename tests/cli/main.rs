//! Integration tests: the real `autodev` binary in temporary projects.

mod backend;
#[path = "../common/mod.rs"]
mod common;
mod config;
mod harness;
mod skills;
mod status;
mod tasks;
mod verify;
