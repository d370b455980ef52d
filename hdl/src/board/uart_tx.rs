//! UART transmitter, 8N1: `start` while `ready` loads `data`; the start bit, eight data bits
//! (LSB first) and the stop bit each last `divisor` cycles, and `ready` is high again in the stop
//! bit's last cycle, so bytes can go back to back. `ready` and the line are registers.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    pub data: Signal<In, Bits<8>>,
    pub start: Signal<In, bool>,
    pub ready: Signal<Out, bool>,
    /// The line (idle high).
    pub txd: Signal<Out, bool>,
    busy: DFF<bool>,
    /// {stop, data, start}, shifted out from bit 0.
    shift: DFF<Bits<10>>,
    cnt: DFF<Bits<16>>,
    nbit: DFF<Bits<4>>,
    // Stored inverted so that the power-up value (0) drives the idle level.
    txd_n: DFF<bool>,
    ready_q: DFF<bool>,
    last_tick: Signal<Local, bool>,
    div_last: Constant<Bits<16>>,
    div_last2: Constant<Bits<16>>,
}

impl UartTx {
    /// `divisor`: clock cycles per bit, 4..=65535 (the receiver's range).
    pub fn new(divisor: u32) -> Self {
        assert!(
            (super::uart_rx::MIN_DIVISOR..=0xffff).contains(&divisor),
            "UART divisor {divisor} outside 4..=65535"
        );
        Self {
            clock: Default::default(),
            data: Default::default(),
            start: Default::default(),
            ready: Default::default(),
            txd: Default::default(),
            busy: Default::default(),
            shift: Default::default(),
            cnt: Default::default(),
            nbit: Default::default(),
            txd_n: Default::default(),
            ready_q: Default::default(),
            last_tick: Default::default(),
            div_last: Constant::new(u64::from(divisor - 1).into()),
            div_last2: Constant::new(u64::from(divisor - 2).into()),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, shift, cnt, nbit, txd_n, ready_q);
        // `ready` is high while idle and in the stop bit's last cycle, so a waiting byte loads
        // then and characters follow each other exactly 10 bits apart. It is a register (one
        // cycle low after power-up) so that no combinational path runs from `start` to `ready`.
        self.last_tick.next = self.busy.q.val()
            & (self.nbit.q.val() == 9)
            & (self.cnt.q.val() == self.div_last.val());
        self.ready.next = self.ready_q.q.val();
        self.txd.next = !self.txd_n.q.val();
        self.ready_q.d.next = true;
        if self.busy.q.val() {
            self.ready_q.d.next = false;
            self.cnt.d.next = self.cnt.q.val() + 1;
            if self.cnt.q.val() == self.div_last.val() {
                self.cnt.d.next = 0.into();
                self.shift.d.next = self.shift.q.val() >> 1;
                self.nbit.d.next = self.nbit.q.val() + 1;
                self.txd_n.d.next = !self.shift.q.val().get_bit(1);
            }
            if (self.nbit.q.val() == 9) & (self.cnt.q.val() == self.div_last2.val()) {
                self.ready_q.d.next = true;
            }
            if self.last_tick.val() {
                self.busy.d.next = false;
                self.txd_n.d.next = false;
                self.ready_q.d.next = true;
            }
        }
        if self.ready_q.q.val() & self.start.val() {
            self.busy.d.next = true;
            self.ready_q.d.next = false;
            self.shift.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | 0x200;
            self.cnt.d.next = 0.into();
            self.nbit.d.next = 0.into();
            // The start bit goes out with the load.
            self.txd_n.d.next = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::line::{LineRx, RxEvent};
    use crate::harness::ClockedSim;

    #[test]
    fn uart_tx_yosys_validate() {
        let mut uut = UartTx::new(434);
        uut.connect_all();
        let tmp = tempfile::tempdir().unwrap();
        crate::tools::write_design(tmp.path(), &generate_verilog(&uut), &[]).unwrap();
        crate::tools::yosys_check(tmp.path(), "top.v", "top").unwrap();
        crate::tools::verilator_lint(tmp.path(), "top.v", "top").unwrap();
    }

    /// Bytes offered as soon as `ready` (back to back) and with gaps arrive intact, each bit
    /// exactly `divisor` cycles long.
    #[test]
    fn uart_tx_sends_back_to_back_bytes() {
        for divisor in [4u32, 7, 20] {
            let mut sim =
                ClockedSim::new(UartTx::new(divisor), |u, c| u.clock.next = Clock::from(c))
                    .unwrap();
            let mut rx = LineRx::new(f64::from(divisor));
            let bytes: Vec<u8> = vec![0x00, 0xff, 0xa5, 0x5a, 0x01, 0x80, 0x42];
            let mut sent = 0usize;
            let mut got = Vec::new();
            let mut starts = Vec::new();
            for t in 0..(bytes.len() as u64 + 2) * 12 * u64::from(divisor) {
                // A pause after the third byte.
                let offer = sent < bytes.len() && !(sent == 3 && t % 97 != 0);
                sim.uut.start.next = offer;
                sim.uut.data.next = u64::from(*bytes.get(sent).unwrap_or(&0)).into();
                sim.settle().unwrap();
                if offer && sim.uut.ready.val() {
                    sent += 1;
                    starts.push(t);
                }
                sim.cycle().unwrap();
                if let Some(ev) = rx.sample(sim.uut.txd.val()) {
                    got.push(ev);
                }
            }
            let expect: Vec<RxEvent> = bytes.iter().map(|b| RxEvent::Byte(*b)).collect();
            assert_eq!(got, expect, "divisor {divisor}");
            // Back-to-back characters start exactly 10 bits apart.
            assert_eq!(starts[1] - starts[0], 10 * u64::from(divisor));
        }
    }
}
