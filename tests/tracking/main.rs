//! Change tracking and the gate, against real files in temporary projects.

#[path = "../common/mod.rs"]
mod common;
mod gate;
mod head;
mod snapshot;
