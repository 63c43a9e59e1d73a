//! autodev: unattended, AI-driven software development from intent to verified commits.
//!
//! A project is an `autodev.toml` ([`config`]) beside a queue of tasks in `task.json`
//! ([`task`]). Commands live in [`cli`], one file each; errors and exit codes in [`error`];
//! terminal styling in [`ui`]; atomic state files and locks in [`durable`]; files written for
//! people and tools (such as `logs/runtime-status.json`) in [`report`]. Agent CLIs are described
//! by [`backend`] (how to call each one, how to read its output) and run under [`exec`], which
//! supervises every child process. [`snapshot`] tracks which files an attempt changed and [`gate`] judges the evidence; [`git`] is the only place git commands are built. [`skills`] owns the bundled skills and
//! the project scaffolding of `autodev init`.

pub mod backend;
pub mod call;
pub mod cli;
pub mod config;
pub mod durable;
pub mod error;
pub mod exec;
pub mod experiment;
pub mod fake_agent;
pub mod gate;
pub mod git;
pub mod journal;
pub mod notify;
pub mod plan;
pub mod projects;
pub mod reflect;
pub mod report;
pub mod runner;
pub mod session;
pub mod skills;
pub mod snapshot;
pub mod task;
pub mod template;
#[cfg(test)]
mod testing;
pub mod ui;
pub mod web;
