//! Rust-HDL blocks of the deltagen accelerator (filled by the accelerator issue).
