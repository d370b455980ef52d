//! Rust-HDL blocks of the deltagen sparse delta accelerator.
//!
//! One block per file; see docs/architecture.md for the schedule and per-block timing.

pub mod harness;
pub mod mem;
pub mod params;
pub mod pe;
pub mod tools;
