//! Rust-HDL blocks of the deltagen sparse delta accelerator.
//!
//! One block per file; see docs/architecture.md for the schedule and per-block timing.

pub mod board;
pub mod compactor;
pub mod decoder;
pub mod delta_encoder;
pub mod drive;
pub mod harness;
pub mod in_buffer;
pub mod keep_reg;
pub mod lane_pack;
pub mod mem;

pub mod design;
pub mod encoder_lane;
pub mod lane_bounds;
pub mod mac8x2;
pub mod mul16;
pub mod mul16p;
pub mod opt_signal;
pub mod out_fifo;
pub mod params;
pub mod pe;
pub mod requant;
pub mod rle_buffer;
pub mod tools;
pub mod top;
