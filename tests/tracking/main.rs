//! Change tracking and the gate, against real files in temporary projects.

mod gate;
mod snapshot;
