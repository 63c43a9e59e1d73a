//! `autodev run` end to end: the real binary in a temporary git repository, with the scripted
//! fake agent standing in for codex.

mod browser;
mod budget;
#[path = "../common/mod.rs"]
mod common;
mod damage;
mod demo;
mod detach;
mod experiments;
mod faults;
mod harness;
mod integrity;
mod isolation;
mod journal;
mod notify;
mod planning;
mod recovery;
mod scenarios;
mod stops;
mod story;
mod web;
mod workers;
