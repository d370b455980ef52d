//! Receive FIFO of the board bridge: bytes from the UART wait here while the accelerator is
//! busy with the previous frame (one BRAM, depth a power of two). `pop` while `nonempty` takes
//! the oldest byte; it appears on `rd_data` in the next cycle and stays until the next pop. A
//! push into a full FIFO drops the byte and pulses `overflow`.

use crate::mem::SyncRam;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ByteFifo {
    pub clock: Signal<In, Clock>,
    pub push: Signal<In, bool>,
    pub push_data: Signal<In, Bits<8>>,
    pub nonempty: Signal<Out, bool>,
    pub pop: Signal<In, bool>,
    pub rd_data: Signal<Out, Bits<8>>,
    pub overflow: Signal<Out, bool>,
    bytes: SyncRam<8>,
    wr_ptr: DFF<Bits<16>>,
    rd_ptr: DFF<Bits<16>>,
    count: DFF<Bits<16>>,
    overflow_q: DFF<bool>,
    full: Signal<Local, bool>,
    do_push: Signal<Local, bool>,
    do_pop: Signal<Local, bool>,
    mask: Constant<Bits<16>>,
    depth: Constant<Bits<16>>,
}

impl ByteFifo {
    /// `depth`: a power of two, 2..=32768.
    pub fn new(depth: usize) -> Self {
        assert!(depth.is_power_of_two() && (2..=32768).contains(&depth));
        Self {
            clock: Default::default(),
            push: Default::default(),
            push_data: Default::default(),
            nonempty: Default::default(),
            pop: Default::default(),
            rd_data: Default::default(),
            overflow: Default::default(),
            bytes: SyncRam::new(depth, &[], None),
            wr_ptr: Default::default(),
            rd_ptr: Default::default(),
            count: Default::default(),
            overflow_q: Default::default(),
            full: Default::default(),
            do_push: Default::default(),
            do_pop: Default::default(),
            mask: Constant::new(((depth - 1) as u64).into()),
            depth: Constant::new((depth as u64).into()),
        }
    }
}

impl Logic for ByteFifo {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wr_ptr, rd_ptr, count, overflow_q);
        self.full.next = self.count.q.val() == self.depth.val();
        self.nonempty.next = self.count.q.val().any();
        self.do_push.next = self.push.val() & !self.full.val();
        self.do_pop.next = self.pop.val() & self.count.q.val().any();
        self.bytes.clock.next = self.clock.val();
        self.bytes.write_address.next = self.wr_ptr.q.val();
        self.bytes.write_data.next = self.push_data.val();
        self.bytes.write_enable.next = self.do_push.val();
        self.bytes.read_address.next = self.rd_ptr.q.val();
        self.bytes.read_enable.next = self.do_pop.val();
        self.rd_data.next = self.bytes.read_data.val();
        if self.do_push.val() {
            self.wr_ptr.d.next = (self.wr_ptr.q.val() + 1) & self.mask.val();
        }
        if self.do_pop.val() {
            self.rd_ptr.d.next = (self.rd_ptr.q.val() + 1) & self.mask.val();
        }
        if self.do_push.val() & !self.do_pop.val() {
            self.count.d.next = self.count.q.val() + 1;
        }
        if self.do_pop.val() & !self.do_push.val() {
            self.count.d.next = self.count.q.val() - 1;
        }
        self.overflow_q.d.next = self.push.val() & self.full.val();
        self.overflow.next = self.overflow_q.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    #[test]
    fn byte_fifo_yosys_validate() {
        let mut uut = ByteFifo::new(256);
        uut.connect_all();
        let tmp = tempfile::tempdir().unwrap();
        crate::tools::write_design(tmp.path(), &generate_verilog(&uut), &[]).unwrap();
        crate::tools::yosys_check(tmp.path(), "top.v", "top").unwrap();
        crate::tools::verilator_lint(tmp.path(), "top.v", "top").unwrap();
    }

    /// Random pushes and pops against a queue, including pushes into a full FIFO (dropped,
    /// flagged) and simultaneous push and pop.
    #[test]
    fn byte_fifo_matches_a_queue() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let depth = 8;
        let mut sim =
            ClockedSim::new(ByteFifo::new(depth), |u, c| u.clock.next = Clock::from(c)).unwrap();
        let mut model: VecDeque<u8> = VecDeque::new();
        let mut expect_read: Option<u8> = None;
        let mut overflows = (0, 0);
        for step in 0..3000 {
            // Phases: fill up (overflow), drain, mixed.
            let (p_push, p_pop) = match (step / 300) % 3 {
                0 => (0.9, 0.1),
                1 => (0.1, 0.9),
                _ => (0.5, 0.5),
            };
            let push = rng.gen_bool(p_push);
            let pop = rng.gen_bool(p_pop);
            let byte: u8 = rng.gen();
            sim.uut.push.next = push;
            sim.uut.push_data.next = u64::from(byte).into();
            sim.uut.pop.next = pop;
            sim.settle().unwrap();
            assert_eq!(sim.uut.nonempty.val(), !model.is_empty(), "step {step}");
            let popped = if pop { model.pop_front() } else { None };
            let full = model.len() + usize::from(popped.is_some()) == depth;
            if push {
                if full {
                    overflows.0 += 1;
                } else {
                    model.push_back(byte);
                }
            }
            sim.cycle().unwrap();
            if sim.uut.overflow.val() {
                overflows.1 += 1;
            }
            if let Some(b) = popped {
                expect_read = Some(b);
            }
            if let Some(b) = expect_read {
                assert_eq!(sim.uut.rd_data.val().to_u64() as u8, b, "step {step}");
            }
        }
        assert!(overflows.0 > 10, "the test never filled the FIFO");
        assert_eq!(overflows.0, overflows.1);
    }
}
