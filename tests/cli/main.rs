//! Integration tests: the real `autodev` binary in temporary projects.

mod backend;
mod config;
mod harness;
mod status;
mod tasks;
mod verify;
