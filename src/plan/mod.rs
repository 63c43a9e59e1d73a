//! Planning: turning model answers into queue changes. So far it holds the JSON extraction that
//! planning and reflection share; `spec`, `plan` and re-planning arrive with their issue.

pub mod json;
