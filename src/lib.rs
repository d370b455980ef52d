//! deltagen: FPGA accelerators that skip the work for activations that did not change.
//!
//! The crate holds the integer arithmetic contract ([`arith`]), the accelerator configuration
//! ([`config`]), the model package and data formats ([`model`], [`io`]), the bit-accurate golden
//! model ([`golden`]) with its sparsity statistics ([`stats`]) and cycle model ([`cycles`]), and
//! the command-line interface ([`cli`]).

pub mod arith;
pub mod bench;
/// Boards for `generate --board`: top module, oscillator, device, constraint file.
pub use deltagen_hdl::board::boards as board;
pub mod cli;
pub mod config;
pub mod cycles;
pub mod data;
pub mod flow;
pub mod format;
pub mod generate;
pub mod golden;
pub mod host;
pub mod hw;
pub mod io;
pub mod model;
pub mod outreg;
pub mod random;
pub mod sim;
pub mod stats;
pub mod synth;
pub mod train;

pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
