//! A small synchronous driver for rust-hdl circuits: set inputs, call `cycle()`, read outputs.
//!
//! rust-hdl's threaded `Simulation` is built for free-running testbenches; the block tests and
//! the whole-accelerator test need a lock-step driver that counts cycles exactly.

use rust_hdl::prelude::*;

pub struct ClockedSim<U: Block> {
    pub uut: U,
    set_clock: fn(&mut U, bool),
    /// Rising edges applied so far.
    pub cycles: u64,
}

impl<U: Block> ClockedSim<U> {
    /// Connects and checks the circuit; `set_clock` drives its clock input.
    pub fn new(mut uut: U, set_clock: fn(&mut U, bool)) -> Result<Self, String> {
        uut.connect_all();
        check_all(&uut).map_err(|e| format!("circuit check failed: {e:?}"))?;
        let mut s = Self {
            uut,
            set_clock,
            cycles: 0,
        };
        s.settle()?;
        Ok(s)
    }

    /// Propagates combinational changes until nothing changes.
    pub fn settle(&mut self) -> Result<(), String> {
        for _ in 0..200 {
            self.uut.update_all();
            if !self.uut.has_changed() {
                return Ok(());
            }
        }
        Err("circuit failed to converge".into())
    }

    /// One clock period: inputs set before the call are sampled at the rising edge.
    pub fn cycle(&mut self) -> Result<(), String> {
        self.settle()?;
        (self.set_clock)(&mut self.uut, true);
        self.settle()?;
        (self.set_clock)(&mut self.uut, false);
        self.settle()?;
        self.cycles += 1;
        Ok(())
    }
}
