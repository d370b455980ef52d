//! UART receiver, 8N1: a two-flop synchronizer, start-bit check at half a bit, data and stop
//! bits sampled mid-bit with a divisor counter (`divisor` clock cycles per bit, at least 4).
//! `valid` pulses one cycle with `data`; a low stop bit pulses `frame_error` instead and the
//! character is dropped. After the stop bit's sample the receiver waits for the next falling
//! edge, so a sender up to ~4 % fast or slow is still read correctly.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    /// The line (idle high).
    pub rxd: Signal<In, bool>,
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, bool>,
    pub frame_error: Signal<Out, bool>,
    // The synchronizer stores the inverted line so that the power-up value (0) reads as idle.
    sync0_n: DFF<bool>,
    sync1_n: DFF<bool>,
    state: DFF<Bits<2>>,
    cnt: DFF<Bits<16>>,
    nbit: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    out_data: DFF<Bits<8>>,
    out_valid: DFF<bool>,
    out_ferr: DFF<bool>,
    line: Signal<Local, bool>,
    div_last: Constant<Bits<16>>,
    half_last: Constant<Bits<16>>,
    st_idle: Constant<Bits<2>>,
    st_start: Constant<Bits<2>>,
    st_data: Constant<Bits<2>>,
}

/// Smallest divisor the receiver handles (the start check needs half a bit of at least 2).
pub const MIN_DIVISOR: u32 = 4;

impl UartRx {
    /// `divisor`: clock cycles per bit, 4..=65535.
    pub fn new(divisor: u32) -> Self {
        assert!(
            (MIN_DIVISOR..=0xffff).contains(&divisor),
            "UART divisor {divisor} outside 4..=65535"
        );
        Self {
            clock: Default::default(),
            rxd: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            frame_error: Default::default(),
            sync0_n: Default::default(),
            sync1_n: Default::default(),
            state: Default::default(),
            cnt: Default::default(),
            nbit: Default::default(),
            shift: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ferr: Default::default(),
            line: Default::default(),
            div_last: Constant::new(u64::from(divisor - 1).into()),
            half_last: Constant::new(u64::from(divisor / 2 - 1).into()),
            st_idle: Constant::new(0.into()),
            st_start: Constant::new(1.into()),
            st_data: Constant::new(2.into()),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sync0_n, sync1_n, state, cnt, nbit, shift, out_data, out_valid, out_ferr
        );
        self.sync0_n.d.next = !self.rxd.val();
        self.sync1_n.d.next = self.sync0_n.q.val();
        self.line.next = !self.sync1_n.q.val();
        self.out_valid.d.next = false;
        self.out_ferr.d.next = false;
        self.cnt.d.next = self.cnt.q.val() + 1;
        if self.state.q.val() == self.st_idle.val() {
            self.cnt.d.next = 0.into();
            if !self.line.val() {
                self.state.d.next = self.st_start.val();
            }
        } else if self.state.q.val() == self.st_start.val() {
            // Middle of the start bit: still low, or it was a glitch.
            if self.cnt.q.val() == self.half_last.val() {
                self.cnt.d.next = 0.into();
                self.nbit.d.next = 0.into();
                self.state.d.next = self.st_data.val();
                if self.line.val() {
                    self.state.d.next = self.st_idle.val();
                }
            }
        } else if self.state.q.val() == self.st_data.val() {
            if self.cnt.q.val() == self.div_last.val() {
                self.cnt.d.next = 0.into();
                self.shift.d.next = self.shift.q.val() >> 1;
                if self.line.val() {
                    self.shift.d.next = (self.shift.q.val() >> 1) | 0x80;
                }
                self.nbit.d.next = self.nbit.q.val() + 1;
                if self.nbit.q.val() == 7 {
                    self.state.d.next = 3.into();
                }
            }
        } else if self.cnt.q.val() == self.div_last.val() {
            // Stop bit.
            self.state.d.next = self.st_idle.val();
            self.out_data.d.next = self.shift.q.val();
            self.out_valid.d.next = self.line.val();
            self.out_ferr.d.next = !self.line.val();
        }
        self.data.next = self.out_data.q.val();
        self.valid.next = self.out_valid.q.val();
        self.frame_error.next = self.out_ferr.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::line::LineTx;
    use crate::harness::ClockedSim;

    #[test]
    fn uart_rx_yosys_validate() {
        let mut uut = UartRx::new(434);
        uut.connect_all();
        let tmp = tempfile::tempdir().unwrap();
        crate::tools::write_design(tmp.path(), &generate_verilog(&uut), &[]).unwrap();
        crate::tools::yosys_check(tmp.path(), "top.v", "top").unwrap();
        crate::tools::verilator_lint(tmp.path(), "top.v", "top").unwrap();
    }

    /// Receives `bytes` sent with `period` cycles per bit into a receiver set to `divisor`.
    fn receive(divisor: u32, period: f64, bytes: &[u8], corrupt_stop: Option<usize>) -> Vec<i32> {
        let mut sim =
            ClockedSim::new(UartRx::new(divisor), |u, c| u.clock.next = Clock::from(c)).unwrap();
        let mut tx = LineTx::new(period);
        tx.send(bytes);
        let mut got = Vec::new();
        let total = (bytes.len() as f64 * 10.0 * period) as u64 + 4 * u64::from(divisor);
        let mut frame = 0usize;
        let mut t_in_frame = 0.0;
        for _ in 0..total {
            let mut level = tx.level();
            // Pull the stop bit of one character low (a framing error).
            if corrupt_stop == Some(frame) && t_in_frame >= 9.0 * period {
                level = false;
            }
            t_in_frame += 1.0;
            if t_in_frame >= 10.0 * period {
                t_in_frame -= 10.0 * period;
                frame += 1;
            }
            sim.uut.rxd.next = level;
            sim.cycle().unwrap();
            if sim.uut.valid.val() {
                got.push(sim.uut.data.val().to_u64() as i32);
            }
            if sim.uut.frame_error.val() {
                got.push(-1);
            }
        }
        got
    }

    #[test]
    fn uart_rx_reads_bytes_at_any_divisor_and_small_mismatch() {
        let bytes: Vec<u8> = vec![0x00, 0xff, 0x55, 0xaa, 0x01, 0x80, 0x3c, 0x7e, 0xc3];
        let expect: Vec<i32> = bytes.iter().map(|b| i32::from(*b)).collect();
        for divisor in [4u32, 5, 16, 33] {
            assert_eq!(receive(divisor, f64::from(divisor), &bytes, None), expect);
        }
        // A sender 3 % slow or fast is still read (the receiver resynchronises per character).
        for period in [32.0 * 1.03, 32.0 * 0.97] {
            assert_eq!(receive(32, period, &bytes, None), expect, "{period}");
        }
    }

    #[test]
    fn uart_rx_flags_a_low_stop_bit() {
        let got = receive(8, 8.0, &[0x12, 0x34], Some(1));
        // The corrupted character is dropped with a framing error.
        assert_eq!(got, vec![0x12, -1]);
        // After the line idles, the receiver reads again.
        let got = receive(8, 8.0, &[0x34, 0x56], Some(0));
        assert_eq!(got, vec![-1, 0x56]);
    }
}
