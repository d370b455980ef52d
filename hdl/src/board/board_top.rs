//! `deltagen_board`: the accelerator on a board. The oscillator goes through the board's PLL
//! (`ClockGen`), a UART pair and the `Bridge` carry frames in and logits out (docs/board.md),
//! and three LEDs show a 1 Hz heartbeat, recent accelerator activity and any sticky error.
//!
//! Ports (the names the files in `constraints/` use): `clk`, `uart_rx` (FPGA input from the
//! USB-serial chip), `uart_tx` (FPGA output), `led_heartbeat`, `led_busy`, `led_error`.
//! The accelerator is `DeltaTop` used through its public stream ports only.

use super::boards::BoardConfig;
use super::bridge::{Bridge, DESC_FILE};
use super::clock_gen::ClockGen;
use super::uart_rx::UartRx;
use super::uart_tx::UartTx;
use crate::params::{HwError, HwParams, Image};
use crate::top::DeltaTop;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct DeltaBoard {
    pub clk: Signal<In, Clock>,
    pub uart_rx: Signal<In, bool>,
    pub uart_tx: Signal<Out, bool>,
    pub led_heartbeat: Signal<Out, bool>,
    pub led_busy: Signal<Out, bool>,
    pub led_error: Signal<Out, bool>,
    clock_gen: ClockGen,
    rx: UartRx,
    tx: UartTx,
    bridge: Bridge,
    accel: DeltaTop,
    hb_cnt: DFF<Bits<32>>,
    hb: DFF<bool>,
    busy_cnt: DFF<Bits<32>>,
    hb_last: Constant<Bits<32>>,
    stretch: Constant<Bits<32>>,
    inv_hb: Constant<bool>,
    inv_busy: Constant<bool>,
    inv_err: Constant<bool>,
}

impl DeltaBoard {
    /// The board top around an accelerator for `params` holding `image`; `prefix` is prepended
    /// to every `$readmemh` file name (the accelerator's and the bridge's `board_desc.hex`).
    pub fn new(
        params: &HwParams,
        image: &Image,
        prefix: &str,
        board: &BoardConfig,
    ) -> Result<Self, HwError> {
        let accel = DeltaTop::new(params, image, prefix)?;
        let first = image.descriptors.first();
        let readout = image.descriptors.iter().find(|d| d.is_readout);
        let (n_in, n_out) = match (first, readout) {
            (Some(f), Some(r)) => (f.in_dim, r.in_dim),
            _ => {
                return Err(HwError {
                    field: "layers".into(),
                    reason: "the memory image has no layers".into(),
                })
            }
        };
        if !(super::uart_rx::MIN_DIVISOR..=0xffff).contains(&board.divisor) {
            return Err(HwError {
                field: "baud".into(),
                reason: format!(
                    "UART divisor {} (clock cycles per bit) outside 4..=65535",
                    board.divisor
                ),
            });
        }
        if board.heartbeat_half_period == 0 {
            return Err(HwError {
                field: "clock".into(),
                reason: "heartbeat period of 0 cycles".into(),
            });
        }
        let c32 = |v: u32| Constant::new(u64::from(v).into());
        Ok(Self {
            clk: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            led_heartbeat: Default::default(),
            led_busy: Default::default(),
            led_error: Default::default(),
            clock_gen: ClockGen::new(board.clock),
            rx: UartRx::new(board.divisor),
            tx: UartTx::new(board.divisor),
            bridge: Bridge::new(
                params.g(),
                board.fifo_depth,
                n_in as u16,
                n_out as u16,
                format!("{prefix}{DESC_FILE}"),
            ),
            accel,
            hb_cnt: Default::default(),
            hb: Default::default(),
            busy_cnt: Default::default(),
            hb_last: c32(board.heartbeat_half_period - 1),
            stretch: c32(board.busy_stretch),
            inv_hb: Constant::new(board.led_active_low[0]),
            inv_busy: Constant::new(board.led_active_low[1]),
            inv_err: Constant::new(board.led_active_low[2]),
        })
    }
}

impl Logic for DeltaBoard {
    #[hdl_gen]
    fn update(&mut self) {
        self.clock_gen.clock_in.next = self.clk.val();
        self.hb_cnt.clock.next = self.clock_gen.clock_out.val();
        self.hb.clock.next = self.clock_gen.clock_out.val();
        self.busy_cnt.clock.next = self.clock_gen.clock_out.val();
        self.hb_cnt.d.next = self.hb_cnt.q.val();
        self.hb.d.next = self.hb.q.val();
        self.busy_cnt.d.next = self.busy_cnt.q.val();
        self.rx.clock.next = self.clock_gen.clock_out.val();
        self.tx.clock.next = self.clock_gen.clock_out.val();
        self.bridge.clock.next = self.clock_gen.clock_out.val();
        self.accel.clock.next = self.clock_gen.clock_out.val();

        // Serial side; the line reads idle until the PLL has locked.
        self.rx.rxd.next = self.uart_rx.val() | !self.clock_gen.locked.val();
        self.bridge.rx_valid.next = self.rx.valid.val();
        self.bridge.rx_data.next = self.rx.data.val();
        self.bridge.rx_frame_error.next = self.rx.frame_error.val();
        self.tx.data.next = self.bridge.tx_data.val();
        self.tx.start.next = self.bridge.tx_start.val();
        self.bridge.tx_ready.next = self.tx.ready.val();
        self.uart_tx.next = self.tx.txd.val();

        // Accelerator streams.
        self.accel.s_axis_tvalid.next = self.bridge.s_axis_tvalid.val();
        self.accel.s_axis_tdata.next = self.bridge.s_axis_tdata.val();
        self.accel.s_axis_tuser.next = self.bridge.s_axis_tuser.val();
        self.accel.s_axis_tlast.next = self.bridge.s_axis_tlast.val();
        self.bridge.s_axis_tready.next = self.accel.s_axis_tready.val();
        self.bridge.m_axis_tvalid.next = self.accel.m_axis_tvalid.val();
        self.bridge.m_axis_tdata.next = self.accel.m_axis_tdata.val();
        self.bridge.m_axis_tlast.next = self.accel.m_axis_tlast.val();
        self.accel.m_axis_tready.next = self.bridge.m_axis_tready.val();
        self.bridge.accel_error.next = self.accel.error.val();

        // LEDs.
        self.hb_cnt.d.next = self.hb_cnt.q.val() + 1;
        if self.hb_cnt.q.val() == self.hb_last.val() {
            self.hb_cnt.d.next = 0.into();
            self.hb.d.next = !self.hb.q.val();
        }
        if self.accel.busy.val() | self.accel.done.val() {
            self.busy_cnt.d.next = self.stretch.val();
        } else if self.busy_cnt.q.val().any() {
            self.busy_cnt.d.next = self.busy_cnt.q.val() - 1;
        }
        self.led_heartbeat.next = self.hb.q.val() ^ self.inv_hb.val();
        self.led_busy.next =
            (self.accel.busy.val() | self.busy_cnt.q.val().any()) ^ self.inv_busy.val();
        self.led_error.next = self.bridge.status.val().any() ^ self.inv_err.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::boards::board;
    use crate::board::clock_gen::{yosys_check_with_cells, ClockPlan};
    use crate::board::protocol::*;
    use crate::board::sim::BoardSim;
    use crate::design::build_board_design;
    use crate::params::{build_image, LayerSpec};
    use rand::{Rng, SeedableRng};

    fn small() -> (HwParams, Vec<LayerSpec>) {
        let params = HwParams {
            pe_count: 2,
            act_bits: 8,
            weight_bits: 8,
            acc_bits: 32,
            rle_run_bits: 4,
            nz_lanes: 2,
            max_in: 16,
            max_out: 16,
            max_layers: 2,
            weight_bank_depth: 64,
            max_dsp: 2,
            replicate: false,
            one_y_ram: true,
            dual_mac: false,
            spaced_words: true,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut layer = |i: usize, o: usize, m: u32, s: u32| LayerSpec {
            in_dim: i,
            out_dim: o,
            weight: (0..i * o).map(|_| rng.gen_range(-20..=20)).collect(),
            bias: (0..o).map(|_| rng.gen_range(-100..=100)).collect(),
            theta: 0,
            multiplier: m,
            shift: s,
            tau: 0,
        };
        let layers = vec![layer(5, 4, 1, 4), layer(4, 3, 0, 0)];
        (params, layers)
    }

    /// The board top with every clock variant elaborates in Yosys (vendor primitives from
    /// Yosys' cell libraries); the PLL-free one also passes Verilator lint and Icarus.
    #[test]
    fn board_top_yosys_validate() {
        let (params, layers) = small();
        let plans = [
            ClockPlan::Direct { f_mhz: 12.0 },
            board("icebreaker")
                .unwrap()
                .plan(30.0, 115_200)
                .unwrap()
                .clock,
            board("ulx3s").unwrap().plan(50.0, 115_200).unwrap().clock,
            board("arty-a7").unwrap().plan(50.0, 115_200).unwrap().clock,
        ];
        for plan in plans {
            let mut cfg = BoardConfig::simulation(434, params.max_in as usize);
            cfg.clock = plan;
            let d = build_board_design(&params, &layers, &cfg).unwrap();
            assert!(d.verilog.contains("module deltagen_board("));
            let tmp = tempfile::tempdir().unwrap();
            crate::tools::write_design(tmp.path(), &d.verilog, &d.hex_files).unwrap();
            yosys_check_with_cells(tmp.path(), "top.v", "deltagen_board", &plan)
                .unwrap_or_else(|e| panic!("{}: {e}", plan.describe()));
            if plan.primitive().is_none() {
                crate::tools::verilator_lint(tmp.path(), "top.v", "deltagen_board").unwrap();
                crate::tools::iverilog_check(tmp.path(), "top.v", "deltagen_board").unwrap();
            }
        }
    }

    /// Info reply, LEDs: the heartbeat toggles every half period, busy lights for a frame and
    /// stays lit for the stretch, error lights after a bad command byte.
    #[test]
    fn board_top_info_and_leds() {
        let (params, layers) = small();
        let image = build_image(&params, &layers).unwrap();
        let mut cfg = BoardConfig::simulation(4, params.max_in as usize);
        cfg.heartbeat_half_period = 50;
        cfg.busy_stretch = 30;
        cfg.led_active_low = [false, true, false];
        let top = DeltaBoard::new(&params, &image, "", &cfg).unwrap();
        let mut b = BoardSim::new(top, 4).unwrap();
        // Heartbeat: 50 cycles per level.
        let mut toggles = Vec::new();
        let mut last = b.sim.uut.led_heartbeat.val();
        for t in 0..260 {
            b.step().unwrap();
            let now = b.sim.uut.led_heartbeat.val();
            if now != last {
                toggles.push(t);
                last = now;
            }
        }
        assert_eq!(toggles.len(), 5, "{toggles:?}");
        assert!(toggles.windows(2).all(|w| w[1] - w[0] == 50), "{toggles:?}");
        // Info reply.
        b.send(&[CMD_INFO]);
        let r = b.receive(1 + INFO_LEN, 2000).unwrap();
        assert_eq!(r[0], REPLY_INFO);
        let info = Info::parse(r[1..].try_into().unwrap());
        assert_eq!(
            info,
            Info {
                n_in: 5,
                n_out: 3,
                lanes: 2,
                version: VERSION
            }
        );
        // The busy LED (active low here) is dark before a frame, lit during and just after it.
        assert!(b.sim.uut.led_busy.val());
        b.send(&frame_bytes(true, &[1, -2, 3, -4, 5]));
        let mut lit = 0;
        let mut reply = Vec::new();
        while reply.len() < logits_reply_len(3) {
            if let Some(x) = b.step().unwrap() {
                reply.push(x);
            }
            lit += usize::from(!b.sim.uut.led_busy.val());
            assert!(b.sim.cycles < 10_000, "no reply");
        }
        assert!(lit > 30, "busy LED lit for {lit} cycles");
        assert_eq!(parse_logits(&reply[1..]).1, 0);
        assert!(!b.sim.uut.led_error.val());
        b.send(b"x");
        for _ in 0..100 {
            b.step().unwrap();
        }
        assert!(b.sim.uut.led_error.val());
        assert_eq!(b.framing_errors, 0);
    }
}
