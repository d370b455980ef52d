//! Serial bytes ⇄ accelerator streams, with the framing protocol of docs/board.md
//! (byte values in `protocol.rs`).
//!
//! In: received bytes go through a FIFO (`ByteFifo`) to a parser. `S`/`F` starts a frame of
//! `n_in` int8 elements (`S` starts a new sequence); they are packed `lanes` to a beat into
//! `s_axis_tdata` (element k of the beat in bits 8k+7..8k), `tuser` on the first beat of an `S`
//! frame, `tlast` on the frame's last beat. `?` asks for the info reply, sent once no frame is
//! in flight so replies stay in order. Any other byte where a command is expected is dropped and
//! sets a status bit.
//!
//! Out: every frame's logits come back as `L`, then each `m_axis` int32 little-endian (the
//! stream is held with `tready` low while its four bytes go out), then the status byte after the
//! `tlast` logit.
//!
//! `n_in` and `n_out` come from a one-word ROM (`board_desc.hex`: n_out << 16 | n_in) written
//! beside the accelerator's own memory images, so a new model of another shape needs new hex
//! files only, like the accelerator itself.

use super::byte_fifo::ByteFifo;
use super::protocol;
use crate::mem::SyncRom;
use rust_hdl::prelude::*;

/// Name of the descriptor image of the bridge.
pub const DESC_FILE: &str = "board_desc.hex";

#[derive(LogicBlock)]
pub struct Bridge {
    pub clock: Signal<In, Clock>,
    // UART side
    pub rx_valid: Signal<In, bool>,
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_frame_error: Signal<In, bool>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_start: Signal<Out, bool>,
    pub tx_ready: Signal<In, bool>,
    // accelerator side
    pub s_axis_tvalid: Signal<Out, bool>,
    pub s_axis_tready: Signal<In, bool>,
    pub s_axis_tdata: Signal<Out, Bits<64>>,
    pub s_axis_tuser: Signal<Out, bool>,
    pub s_axis_tlast: Signal<Out, bool>,
    pub m_axis_tvalid: Signal<In, bool>,
    pub m_axis_tready: Signal<Out, bool>,
    pub m_axis_tdata: Signal<In, Bits<32>>,
    pub m_axis_tlast: Signal<In, bool>,
    pub accel_error: Signal<In, bool>,
    /// The sticky status byte (`protocol::STATUS_*`).
    pub status: Signal<Out, Bits<8>>,
    fifo: ByteFifo,
    desc: SyncRom<32>,
    // parser
    p_state: DFF<Bits<2>>,
    got: DFF<bool>,
    elem: DFF<Bits<16>>,
    lane: DFF<Bits<8>>,
    first_beat: DFF<bool>,
    beat_data: DFF<Bits<64>>,
    beat_valid: DFF<bool>,
    beat_user: DFF<bool>,
    beat_last: DFF<bool>,
    /// The next payload byte is the frame's last element / its beat's last lane (flags, so the
    /// parser's decision is not an add and a compare after the FIFO read).
    elem_last: DFF<bool>,
    lane_last: DFF<bool>,
    inflight: DFF<Bits<8>>,
    status_q: DFF<Bits<8>>,
    // replies
    t_state: DFF<Bits<3>>,
    t_idx: DFF<Bits<3>>,
    txq_valid: DFF<bool>,
    txq_data: DFF<Bits<8>>,
    tready_q: DFF<bool>,
    // locals
    rx_byte: Signal<Local, Bits<8>>,
    n_in: Signal<Local, Bits<16>>,
    n_out: Signal<Local, Bits<16>>,
    lane_shift: Signal<Local, Bits<8>>,
    placed: Signal<Local, Bits<64>>,
    s_hs: Signal<Local, bool>,
    frame_done: Signal<Local, bool>,
    reply_done: Signal<Local, bool>,
    start_info: Signal<Local, bool>,
    bad_cmd: Signal<Local, bool>,
    set_accel: Signal<Local, Bits<8>>,
    set_overflow: Signal<Local, Bits<8>>,
    set_bad: Signal<Local, Bits<8>>,
    set_framing: Signal<Local, Bits<8>>,
    send: Signal<Local, bool>,
    next_byte: Signal<Local, Bits<8>>,
    sent: Signal<Local, bool>,
    c_lanes: Constant<Bits<8>>,
    c_seq: Constant<Bits<8>>,
    c_frame: Constant<Bits<8>>,
    c_info: Constant<Bits<8>>,
    c_logits: Constant<Bits<8>>,
    c_info_hdr: Constant<Bits<8>>,
    c_version: Constant<Bits<8>>,
    c_st_accel: Constant<Bits<8>>,
    c_st_overflow: Constant<Bits<8>>,
    c_st_bad: Constant<Bits<8>>,
    c_st_framing: Constant<Bits<8>>,
    p_cmd: Constant<Bits<2>>,
    p_payload: Constant<Bits<2>>,
    p_info: Constant<Bits<2>>,
    t_idle: Constant<Bits<3>>,
    t_hdr: Constant<Bits<3>>,
    t_logit: Constant<Bits<3>>,
    t_status: Constant<Bits<3>>,
    t_info: Constant<Bits<3>>,
}

impl Bridge {
    /// `lanes`: elements per `s_axis` beat (the accelerator's nz_lanes, 1..=8); `fifo_depth`:
    /// receive FIFO bytes (a power of two); the ROM holds `n_in` and `n_out` and is read from
    /// `desc_file` in synthesis.
    pub fn new(lanes: usize, fifo_depth: usize, n_in: u16, n_out: u16, desc_file: String) -> Self {
        assert!((1..=8).contains(&lanes));
        let c8 = |v: u8| Constant::new(u64::from(v).into());
        let c3 = |v: u64| Constant::new(v.into());
        Self {
            clock: Default::default(),
            rx_valid: Default::default(),
            rx_data: Default::default(),
            rx_frame_error: Default::default(),
            tx_data: Default::default(),
            tx_start: Default::default(),
            tx_ready: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tuser: Default::default(),
            s_axis_tlast: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tlast: Default::default(),
            accel_error: Default::default(),
            status: Default::default(),
            fifo: ByteFifo::new(fifo_depth),
            desc: SyncRom::new(1, &[desc_word(n_in, n_out)], desc_file),
            p_state: Default::default(),
            got: Default::default(),
            elem: Default::default(),
            lane: Default::default(),
            first_beat: Default::default(),
            beat_data: Default::default(),
            beat_valid: Default::default(),
            beat_user: Default::default(),
            beat_last: Default::default(),
            elem_last: Default::default(),
            lane_last: Default::default(),
            inflight: Default::default(),
            status_q: Default::default(),
            t_state: Default::default(),
            t_idx: Default::default(),
            txq_valid: Default::default(),
            txq_data: Default::default(),
            tready_q: Default::default(),
            rx_byte: Default::default(),
            n_in: Default::default(),
            n_out: Default::default(),
            lane_shift: Default::default(),
            placed: Default::default(),
            s_hs: Default::default(),
            frame_done: Default::default(),
            reply_done: Default::default(),
            start_info: Default::default(),
            bad_cmd: Default::default(),
            set_accel: Default::default(),
            set_overflow: Default::default(),
            set_bad: Default::default(),
            set_framing: Default::default(),
            send: Default::default(),
            next_byte: Default::default(),
            sent: Default::default(),
            c_lanes: c8(lanes as u8),
            c_seq: c8(protocol::CMD_SEQUENCE),
            c_frame: c8(protocol::CMD_FRAME),
            c_info: c8(protocol::CMD_INFO),
            c_logits: c8(protocol::REPLY_LOGITS),
            c_info_hdr: c8(protocol::REPLY_INFO),
            c_version: c8(protocol::VERSION),
            c_st_accel: c8(protocol::STATUS_ACCEL_ERROR),
            c_st_overflow: c8(protocol::STATUS_OVERFLOW),
            c_st_bad: c8(protocol::STATUS_BAD_COMMAND),
            c_st_framing: c8(protocol::STATUS_FRAMING),
            p_cmd: Constant::new(0.into()),
            p_payload: Constant::new(1.into()),
            p_info: Constant::new(2.into()),
            t_idle: c3(0),
            t_hdr: c3(1),
            t_logit: c3(2),
            t_status: c3(3),
            t_info: c3(4),
        }
    }
}

/// The bridge's ROM word for a model with `n_in` inputs and `n_out` logits.
pub fn desc_word(n_in: u16, n_out: u16) -> u64 {
    (u64::from(n_out) << 16) | u64::from(n_in)
}

impl Logic for Bridge {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, p_state, got, elem, lane, first_beat, beat_data, beat_valid, beat_user,
            beat_last, elem_last, lane_last, inflight, status_q, t_state, t_idx, txq_valid,
            txq_data, tready_q
        );
        self.desc.clock.next = self.clock.val();
        self.desc.read_address.next = 0.into();
        self.desc.read_enable.next = true;
        self.n_in.next = self.desc.read_data.val().get_bits::<16>(0);
        self.n_out.next = self.desc.read_data.val().get_bits::<16>(16);

        // Receive FIFO: one byte every other cycle at most (far above any baud rate); nothing
        // is taken while a beat waits or an info reply is pending.
        self.fifo.clock.next = self.clock.val();
        self.fifo.push.next = self.rx_valid.val();
        self.fifo.push_data.next = self.rx_data.val();
        self.fifo.pop.next = self.fifo.nonempty.val()
            & !self.got.q.val()
            & !self.beat_valid.q.val()
            & (self.p_state.q.val() != self.p_info.val());
        self.got.d.next = self.fifo.pop.val();
        self.rx_byte.next = self.fifo.rd_data.val();

        // Parser.
        self.bad_cmd.next = false;
        self.lane_shift.next = self.lane.q.val() << 3;
        self.placed.next = bit_cast::<64, 8>(self.rx_byte.val()) << self.lane_shift.val();
        if self.got.q.val() {
            if self.p_state.q.val() == self.p_cmd.val() {
                self.elem.d.next = 0.into();
                self.lane.d.next = 0.into();
                self.elem_last.d.next = self.n_in.val() == 1;
                self.lane_last.d.next = self.c_lanes.val() == 1;
                if self.rx_byte.val() == self.c_seq.val() {
                    self.p_state.d.next = self.p_payload.val();
                    self.first_beat.d.next = true;
                } else if self.rx_byte.val() == self.c_frame.val() {
                    self.p_state.d.next = self.p_payload.val();
                    self.first_beat.d.next = false;
                } else if self.rx_byte.val() == self.c_info.val() {
                    self.p_state.d.next = self.p_info.val();
                } else {
                    self.bad_cmd.next = true;
                }
            } else {
                self.beat_data.d.next = self.beat_data.q.val() | self.placed.val();
                self.elem.d.next = self.elem.q.val() + 1;
                self.lane.d.next = self.lane.q.val() + 1;
                self.elem_last.d.next = (self.elem.q.val() + 2) == self.n_in.val();
                self.lane_last.d.next = (self.lane.q.val() + 2) == self.c_lanes.val();
                if self.elem_last.q.val() {
                    self.beat_valid.d.next = true;
                    self.beat_last.d.next = true;
                    self.beat_user.d.next = self.first_beat.q.val();
                    self.lane.d.next = 0.into();
                    self.p_state.d.next = self.p_cmd.val();
                } else if self.lane_last.q.val() {
                    self.beat_valid.d.next = true;
                    self.beat_last.d.next = false;
                    self.beat_user.d.next = self.first_beat.q.val();
                    self.lane.d.next = 0.into();
                    self.lane_last.d.next = self.c_lanes.val() == 1;
                }
            }
        }
        self.s_axis_tvalid.next = self.beat_valid.q.val();
        self.s_axis_tdata.next = self.beat_data.q.val();
        self.s_axis_tuser.next = self.beat_user.q.val();
        self.s_axis_tlast.next = self.beat_last.q.val();
        self.s_hs.next = self.beat_valid.q.val() & self.s_axis_tready.val();
        if self.s_hs.val() {
            self.beat_valid.d.next = false;
            self.beat_data.d.next = 0.into();
            self.first_beat.d.next = false;
        }
        self.frame_done.next = self.s_hs.val() & self.beat_last.q.val();

        // Replies. The info reply waits until every frame handed in has had its reply.
        self.start_info.next = (self.p_state.q.val() == self.p_info.val())
            & (self.t_state.q.val() == self.t_idle.val())
            & !self.inflight.q.val().any();
        if self.start_info.val() {
            self.p_state.d.next = self.p_cmd.val();
        }
        // The next byte of the reply being sent: a function of the reply state and the logit
        // held on m_axis.
        self.send.next = false;
        self.next_byte.next = 0.into();
        if self.t_state.q.val() == self.t_hdr.val() {
            self.send.next = true;
            self.next_byte.next = self.c_logits.val();
        } else if self.t_state.q.val() == self.t_logit.val() {
            // t_idx 4: the logit's four bytes are out, m_axis_tready is high this cycle.
            self.send.next = self.m_axis_tvalid.val() & (self.t_idx.q.val() != 4);
            self.next_byte.next = self.m_axis_tdata.val().get_bits::<8>(0);
            if self.t_idx.q.val() == 1 {
                self.next_byte.next = self.m_axis_tdata.val().get_bits::<8>(8);
            }
            if self.t_idx.q.val() == 2 {
                self.next_byte.next = self.m_axis_tdata.val().get_bits::<8>(16);
            }
            if self.t_idx.q.val() == 3 {
                self.next_byte.next = self.m_axis_tdata.val().get_bits::<8>(24);
            }
        } else if self.t_state.q.val() == self.t_status.val() {
            self.send.next = true;
            self.next_byte.next = self.status_q.q.val();
        } else if self.t_state.q.val() == self.t_info.val() {
            // Info: 'I', n_in, n_out (u16 little-endian), lanes, version.
            self.send.next = true;
            self.next_byte.next = self.c_info_hdr.val();
            if self.t_idx.q.val() == 1 {
                self.next_byte.next = self.n_in.val().get_bits::<8>(0);
            }
            if self.t_idx.q.val() == 2 {
                self.next_byte.next = self.n_in.val().get_bits::<8>(8);
            }
            if self.t_idx.q.val() == 3 {
                self.next_byte.next = self.n_out.val().get_bits::<8>(0);
            }
            if self.t_idx.q.val() == 4 {
                self.next_byte.next = self.n_out.val().get_bits::<8>(8);
            }
            if self.t_idx.q.val() == 5 {
                self.next_byte.next = self.c_lanes.val();
            }
            if self.t_idx.q.val() == 6 {
                self.next_byte.next = self.c_version.val();
            }
        }
        // One-byte holding register in front of the transmitter; it takes the next byte when
        // empty or emptying this cycle.
        if self.txq_valid.q.val() & self.tx_ready.val() {
            self.txq_valid.d.next = false;
        }
        self.sent.next = self.send.val() & (!self.txq_valid.q.val() | self.tx_ready.val());
        if self.sent.val() {
            self.txq_valid.d.next = true;
            self.txq_data.d.next = self.next_byte.val();
        }
        self.tready_q.d.next = false;
        self.reply_done.next = false;
        if self.t_state.q.val() == self.t_idle.val() {
            self.t_idx.d.next = 0.into();
            if self.start_info.val() {
                self.t_state.d.next = self.t_info.val();
            } else if self.m_axis_tvalid.val() {
                self.t_state.d.next = self.t_hdr.val();
            }
        } else if self.t_state.q.val() == self.t_logit.val() {
            if self.t_idx.q.val() == 4 {
                // The logit is taken now; after the frame's last one comes the status byte.
                self.t_idx.d.next = 0.into();
                if self.m_axis_tlast.val() {
                    self.t_state.d.next = self.t_status.val();
                }
            } else if self.sent.val() {
                self.t_idx.d.next = self.t_idx.q.val() + 1;
                if self.t_idx.q.val() == 3 {
                    self.tready_q.d.next = true;
                }
            }
        } else if self.sent.val() {
            if self.t_state.q.val() == self.t_hdr.val() {
                self.t_state.d.next = self.t_logit.val();
            } else if self.t_state.q.val() == self.t_status.val() {
                self.t_state.d.next = self.t_idle.val();
                self.reply_done.next = true;
            } else {
                self.t_idx.d.next = self.t_idx.q.val() + 1;
                if self.t_idx.q.val() == 6 {
                    self.t_state.d.next = self.t_idle.val();
                }
            }
        }
        // Outputs to the transmitter and the accelerator come straight from registers: no
        // combinational path through this block closes a loop with theirs.
        self.tx_start.next = self.txq_valid.q.val();
        self.tx_data.next = self.txq_data.q.val();
        self.m_axis_tready.next = self.tready_q.q.val();
        if self.frame_done.val() & !self.reply_done.val() {
            self.inflight.d.next = self.inflight.q.val() + 1;
        }
        if self.reply_done.val() & !self.frame_done.val() {
            self.inflight.d.next = self.inflight.q.val() - 1;
        }

        // Sticky status bits.
        self.set_accel.next = 0.into();
        if self.accel_error.val() {
            self.set_accel.next = self.c_st_accel.val();
        }
        self.set_overflow.next = 0.into();
        if self.fifo.overflow.val() {
            self.set_overflow.next = self.c_st_overflow.val();
        }
        self.set_bad.next = 0.into();
        if self.bad_cmd.val() {
            self.set_bad.next = self.c_st_bad.val();
        }
        self.set_framing.next = 0.into();
        if self.rx_frame_error.val() {
            self.set_framing.next = self.c_st_framing.val();
        }
        self.status_q.d.next = self.status_q.q.val()
            | self.set_accel.val()
            | self.set_overflow.val()
            | self.set_bad.val()
            | self.set_framing.val();
        self.status.next = self.status_q.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::protocol::*;
    use crate::harness::ClockedSim;
    use crate::mem::hex_lines;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    #[test]
    fn bridge_yosys_validate() {
        let mut uut = Bridge::new(4, 256, 16, 3, DESC_FILE.into());
        uut.connect_all();
        let tmp = tempfile::tempdir().unwrap();
        let files = vec![(DESC_FILE.to_string(), hex_lines(&[desc_word(16, 3)], 32))];
        crate::tools::write_design(tmp.path(), &generate_verilog(&uut), &files).unwrap();
        crate::tools::yosys_check(tmp.path(), "top.v", "top").unwrap();
        crate::tools::verilator_lint(tmp.path(), "top.v", "top").unwrap();
    }

    /// A stand-in accelerator: takes beats with random `tready`, and for each frame returns
    /// `n_out` logits derived from the frame's bytes (random `tvalid` gaps); the UART sides are
    /// byte-level with random pacing.
    struct Bench {
        sim: ClockedSim<Bridge>,
        rng: rand::rngs::StdRng,
        lanes: usize,
        n_in: usize,
        n_out: usize,
        to_rx: VecDeque<u8>,
        beats: Vec<(u64, bool, bool)>,
        frame: Vec<u8>,
        pending: VecDeque<(i32, bool)>,
        replies: Vec<u8>,
        accept: bool,
        m_held: bool,
    }

    fn logit_of(frame: &[u8], k: usize) -> i32 {
        frame
            .iter()
            .enumerate()
            .map(|(i, b)| i32::from(*b as i8) * (i as i32 + 1) * (k as i32 + 3))
            .sum::<i32>()
            .wrapping_mul(65599)
    }

    impl Bench {
        fn new(lanes: usize, n_in: usize, n_out: usize, fifo: usize, seed: u64) -> Bench {
            let uut = Bridge::new(lanes, fifo, n_in as u16, n_out as u16, DESC_FILE.into());
            Bench {
                sim: ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap(),
                rng: rand::rngs::StdRng::seed_from_u64(seed),
                lanes,
                n_in,
                n_out,
                to_rx: VecDeque::new(),
                beats: Vec::new(),
                frame: Vec::new(),
                pending: VecDeque::new(),
                replies: Vec::new(),
                accept: true,
                m_held: false,
            }
        }

        fn step(&mut self) {
            let rng = &mut self.rng;
            let u = &mut self.sim.uut;
            // A received byte every few cycles.
            let rx = !self.to_rx.is_empty() && rng.gen_bool(0.3);
            u.rx_valid.next = rx;
            u.rx_data.next = u64::from(*self.to_rx.front().unwrap_or(&0)).into();
            u.rx_frame_error.next = false;
            u.accel_error.next = false;
            let tready = self.accept && rng.gen_bool(0.6);
            u.s_axis_tready.next = tready;
            // AXI: once valid, a logit stays valid until taken.
            let mvalid = !self.pending.is_empty() && (self.m_held || rng.gen_bool(0.7));
            self.m_held = mvalid;
            let (mdata, mlast) = self.pending.front().copied().unwrap_or((0, false));
            u.m_axis_tvalid.next = mvalid;
            u.m_axis_tdata.next = u64::from(mdata as u32).into();
            u.m_axis_tlast.next = mlast;
            let txr = rng.gen_bool(0.5);
            u.tx_ready.next = txr;
            self.sim.settle().unwrap();
            let u = &self.sim.uut;
            if rx {
                self.to_rx.pop_front();
            }
            if txr && u.tx_start.val() {
                self.replies.push(u.tx_data.val().to_u64() as u8);
            }
            if mvalid && u.m_axis_tready.val() {
                self.pending.pop_front();
                self.m_held = false;
            }
            if tready && u.s_axis_tvalid.val() {
                let (d, user, last) = (
                    u.s_axis_tdata.val().to_u64(),
                    u.s_axis_tuser.val(),
                    u.s_axis_tlast.val(),
                );
                self.beats.push((d, user, last));
                let take = (self.n_in - self.frame.len()).min(self.lanes);
                for k in 0..take {
                    self.frame.push((d >> (8 * k)) as u8);
                }
                if last {
                    assert_eq!(self.frame.len(), self.n_in, "tlast at the wrong beat");
                    for k in 0..self.n_out {
                        self.pending
                            .push_back((logit_of(&self.frame, k), k + 1 == self.n_out));
                    }
                    self.frame.clear();
                }
            }
            self.sim.cycle().unwrap();
        }

        fn run_until(&mut self, replies: usize, limit: usize) {
            for _ in 0..limit {
                if self.replies.len() >= replies {
                    return;
                }
                self.step();
            }
            panic!(
                "only {} of {replies} reply bytes after {limit} cycles",
                self.replies.len()
            );
        }
    }

    #[test]
    fn bridge_frames_and_replies() {
        for (lanes, n_in, n_out, seed) in
            [(2, 5, 3, 1u64), (4, 16, 3, 2), (8, 8, 1, 3), (1, 3, 4, 4)]
        {
            let mut b = Bench::new(lanes, n_in, n_out, 64, seed);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 100);
            // Info first, then frames (two in flight), an info request between frames.
            b.to_rx.push_back(CMD_INFO);
            let mut frames = Vec::new();
            for f in 0..6 {
                let x: Vec<i8> = (0..n_in).map(|_| rng.gen()).collect();
                b.to_rx.extend(frame_bytes(f % 3 == 0, &x));
                frames.push((f % 3 == 0, x));
                if f == 3 {
                    b.to_rx.push_back(CMD_INFO);
                }
            }
            let info_len = 1 + INFO_LEN;
            let total = 2 * info_len + 6 * logits_reply_len(n_out);
            b.run_until(total, 200_000);
            for _ in 0..2000 * (n_in + n_out) {
                b.step();
            }
            assert_eq!(b.replies.len(), total, "extra reply bytes");
            // Beats: lanes packed in order, tuser on the first beat of `S` frames only.
            let per_frame = n_in.div_ceil(lanes);
            assert_eq!(b.beats.len(), 6 * per_frame);
            for (i, (d, user, last)) in b.beats.iter().enumerate() {
                let (f, k) = (i / per_frame, i % per_frame);
                assert_eq!(*user, frames[f].0 && k == 0, "beat {i} tuser");
                assert_eq!(*last, k + 1 == per_frame, "beat {i} tlast");
                for l in 0..lanes {
                    let e = k * lanes + l;
                    let want = if e < n_in { frames[f].1[e] as u8 } else { 0 };
                    assert_eq!((d >> (8 * l)) as u8, want, "beat {i} lane {l}");
                }
            }
            // Replies: info, 4 frames, info (after frame 3's result), 2 frames.
            let mut pos = 0;
            let mut take = |n: usize| {
                let s = b.replies[pos..pos + n].to_vec();
                pos += n;
                s
            };
            let info = |r: Vec<u8>| {
                assert_eq!(r[0], REPLY_INFO);
                Info::parse(r[1..].try_into().unwrap())
            };
            let want_info = Info {
                n_in: n_in as u16,
                n_out: n_out as u16,
                lanes: lanes as u8,
                version: VERSION,
            };
            assert_eq!(info(take(info_len)), want_info);
            for (f, (_, x)) in frames.iter().enumerate() {
                if f == 4 {
                    assert_eq!(info(take(info_len)), want_info);
                }
                let r = take(logits_reply_len(n_out));
                assert_eq!(r[0], REPLY_LOGITS, "frame {f}");
                let (logits, status) = parse_logits(&r[1..]);
                let bytes: Vec<u8> = x.iter().map(|v| *v as u8).collect();
                let want: Vec<i32> = (0..n_out).map(|k| logit_of(&bytes, k)).collect();
                assert_eq!(logits, want, "frame {f}");
                assert_eq!(status, 0, "frame {f}");
            }
        }
    }

    /// A byte that is no command sets the bad-command bit; bytes pushed into a full FIFO set the
    /// overflow bit; both show in the next reply and stay set.
    #[test]
    fn bridge_reports_bad_commands_and_overflow() {
        let (lanes, n_in, n_out) = (2, 4, 2);
        let mut b = Bench::new(lanes, n_in, n_out, 16, 9);
        b.to_rx.push_back(b'x');
        b.to_rx.extend(frame_bytes(true, &[1, 2, 3, 4]));
        b.run_until(logits_reply_len(n_out), 100_000);
        let (_, status) = parse_logits(&b.replies[1..]);
        assert_eq!(status, STATUS_BAD_COMMAND);
        // The accelerator stops taking beats; 3 more frames (15 bytes) fill the 16-byte FIFO
        // behind the waiting beat, the fourth overflows it.
        b.accept = false;
        for _ in 0..4 {
            b.to_rx.extend(frame_bytes(false, &[5, 6, 7, 8]));
        }
        for _ in 0..2000 {
            b.step();
        }
        assert!(b.to_rx.is_empty());
        b.accept = true;
        let before = b.replies.len();
        b.run_until(before + logits_reply_len(n_out), 100_000);
        let (_, status) = parse_logits(&b.replies[before + 1..]);
        assert_eq!(status, STATUS_BAD_COMMAND | STATUS_OVERFLOW);
        assert_eq!(b.sim.uut.status.val().to_u64() as u8, status);
    }
}
