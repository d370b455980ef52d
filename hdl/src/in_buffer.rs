//! Input frame buffer: two frame slots in one BRAM between `s_axis` and the layer-0 front end.
//!
//! The sequencer starts a frame only once it is whole in a slot, so layer 0 never waits on the
//! input stream: a frame's compute cycles do not depend on how the host paces its beats (the
//! cycle model holds under any stall pattern), and the next frame loads while this one runs.

use crate::keep_reg::KeepReg;
use crate::mem::SyncRam;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct InBuffer {
    pub clock: Signal<In, Clock>,
    pub s_axis_tvalid: Signal<In, bool>,
    pub s_axis_tready: Signal<Out, bool>,
    pub s_axis_tdata: Signal<In, Bits<64>>,
    pub s_axis_tuser: Signal<In, bool>,
    pub s_axis_tlast: Signal<In, bool>,
    /// Beats per frame (ceil(in_0 / G)); zero holds the stream off (ROM not read yet).
    pub beats: Signal<In, Bits<16>>,
    /// A whole frame waits in the read slot.
    pub frame_ready: Signal<Out, bool>,
    /// That frame starts a sequence (its first beat carried `tuser`).
    pub seq_start: Signal<Out, bool>,
    /// Beat of the read slot to read; the data is on `rd_data` one cycle after `rd_enable`.
    pub rd_beat: Signal<In, Bits<16>>,
    pub rd_enable: Signal<In, bool>,
    pub rd_data: Signal<Out, Bits<64>>,
    /// The read slot's frame is consumed (its last beat read): the slot takes a new frame.
    pub consume: Signal<In, bool>,
    /// Pulses when an accepted beat's `tlast` disagrees with `beats`.
    pub tlast_error: Signal<Out, bool>,
    slots: SyncRam<64>,
    wr_slot: DFF<bool>,
    wr_beat: DFF<Bits<16>>,
    rd_slot: DFF<bool>,
    full0: DFF<bool>,
    full1: DFF<bool>,
    seq0: DFF<bool>,
    seq1: DFF<bool>,
    /// The next beat written is the frame's last (a flag: no adder and compare on the stream
    /// handshake's path), against beats - 1 and beats - 2 kept in registers: the three possible
    /// next beats (same, + 1, 0) are compared in parallel, then one is picked.
    at_last: DFF<bool>,
    beats_m1: DFF<Bits<16>>,
    beats_m2: DFF<Bits<16>>,
    /// iCE40 (one entry each; none on ECP5, whose Verilog stays as it was): beats - 1 and
    /// beats - 2 without a power-up value (`KeepReg::layer_constant`): the frame length is a
    /// model constant, and Yosys then folds the compares' operand instead of keeping a
    /// flip-flop it merges with every other such one across the device. `at_last` reads these.
    lc_m1: Vec<KeepReg<16>>,
    lc_m2: Vec<KeepReg<16>>,
    /// With them: the beat index's bits within a slot (the index never leaves it), so the
    /// compares against them are as wide as a slot needs, not 16 bits.
    beat_mask: Vec<Constant<Bits<16>>>,
    /// `beats` has been stable for two cycles (after reset the descriptor ROM needs one to
    /// read it, `beats_m1` and `at_last` one more each): only then beats are taken.
    armed1: DFF<bool>,
    armed: DFF<bool>,
    /// iCE40 (one entry; none on ECP5, whose Verilog stays as it was): `wr_beat != 0` as a
    /// flag, so the sequence flags' enable is the handshake and two flip-flops, not a 16-bit
    /// zero test.
    not_first: Vec<DFF<bool>>,
    /// iCE40 (with `not_first`; none on ECP5): `s_axis_tready` as a flip-flop, loaded with
    /// its next value (the write slot after this cycle not full, and armed), so the handshake
    /// that enables every write-side register is one gate after flip-flops instead of a slot
    /// multiplexer and two more levels.
    rdy: Vec<DFF<bool>>,
    rdy_keep: Vec<Signal<Local, bool>>,
    /// iCE40 (with `rdy`; none on ECP5): `consume` acts a cycle late, from this flip-flop, so
    /// the caller's `consume` logic (the sequencer's group issue) does not run on into the full
    /// flags and `rdy`. `frame_ready` then shows the next slot two cycles after `consume`, and
    /// `consume` pulses must be at least two cycles apart (one per frame, at its last group).
    consume_q: Vec<DFF<bool>>,
    /// With `consume_q`: `frame_ready` and `seq_start` a cycle late, from flip-flops, so the
    /// sequencer's Idle decision starts at registers here, not at the read-slot multiplexer
    /// (four LUT levels into its state flags on the UP5K, session 22). A frame then starts a
    /// cycle later when it arrives while the accelerator waits, and `frame_ready` clears
    /// three cycles after `consume`; no frame's busy cycles change.
    ready_q: Vec<DFF<bool>>,
    seq_q: Vec<DFF<bool>>,
    rdy_swap: Vec<Signal<Local, bool>>,
    hs: Signal<Local, bool>,
    wr_full: Signal<Local, bool>,
    last_beat: Signal<Local, bool>,
    slot_offset: Constant<Bits<16>>,
}

impl InBuffer {
    /// Slots of `slot_beats` beats (a power of two, at least the longest frame).
    pub fn new(slot_beats: usize) -> Self {
        Self::with_flags(slot_beats, false)
    }

    /// `first_flag`: keep the first-beat test in a flip-flop (`not_first`).
    pub fn with_flags(slot_beats: usize, first_flag: bool) -> Self {
        assert!(slot_beats.is_power_of_two());
        Self {
            clock: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tuser: Default::default(),
            s_axis_tlast: Default::default(),
            beats: Default::default(),
            frame_ready: Default::default(),
            seq_start: Default::default(),
            rd_beat: Default::default(),
            rd_enable: Default::default(),
            rd_data: Default::default(),
            consume: Default::default(),
            tlast_error: Default::default(),
            // Writes go to a slot that is not full; the words read while the read slot is
            // full (the only ones used: layer-0 groups start when it is) are never written then.
            slots: SyncRam::new(2 * slot_beats, &[], None).no_rw_check(),
            wr_slot: Default::default(),
            wr_beat: Default::default(),
            rd_slot: Default::default(),
            full0: Default::default(),
            full1: Default::default(),
            seq0: Default::default(),
            seq1: Default::default(),
            at_last: Default::default(),
            beats_m1: Default::default(),
            beats_m2: Default::default(),
            lc_m1: (0..usize::from(first_flag))
                .map(|_| KeepReg::layer_constant())
                .collect(),
            lc_m2: (0..usize::from(first_flag))
                .map(|_| KeepReg::layer_constant())
                .collect(),
            beat_mask: (0..usize::from(first_flag))
                .map(|_| Constant::new(((slot_beats - 1) as u64).into()))
                .collect(),
            armed1: Default::default(),
            armed: Default::default(),
            not_first: (0..usize::from(first_flag))
                .map(|_| Default::default())
                .collect(),
            rdy: (0..usize::from(first_flag))
                .map(|_| Default::default())
                .collect(),
            ready_q: (0..usize::from(first_flag))
                .map(|_| Default::default())
                .collect(),
            seq_q: (0..usize::from(first_flag))
                .map(|_| Default::default())
                .collect(),
            consume_q: (0..usize::from(first_flag))
                .map(|_| Default::default())
                .collect(),
            rdy_keep: (0..usize::from(first_flag))
                .map(|_| Default::default())
                .collect(),
            rdy_swap: (0..usize::from(first_flag))
                .map(|_| Default::default())
                .collect(),
            hs: Default::default(),
            wr_full: Default::default(),
            last_beat: Default::default(),
            slot_offset: Constant::new((slot_beats as u64).into()),
        }
    }
}

impl InBuffer {
    /// Cycles from a `consume` to `frame_ready` showing the next slot (1, 2 with the late
    /// release, 3 with the registered flags too): a reader must not take `frame_ready` as the
    /// next frame's before then.
    pub fn release_delay(&self) -> u64 {
        1 + self.consume_q.len() as u64 + self.ready_q.len() as u64
    }
}

impl Logic for InBuffer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, wr_slot, wr_beat, rd_slot, full0, full1, seq0, seq1, at_last, beats_m1,
            beats_m2, armed1, armed
        );
        self.slots.clock.next = self.clock.val();
        // Write side: beats fill the write slot; its last beat marks the slot full.
        self.wr_full.next = self.full0.q.val();
        if self.wr_slot.q.val() {
            self.wr_full.next = self.full1.q.val();
        }
        self.armed1.d.next = self.beats.val().any();
        self.armed.d.next = self.armed1.q.val() & self.beats.val().any();
        self.beats_m1.d.next = self.beats.val() - 1;
        self.beats_m2.d.next = self.beats.val() - 2;
        self.s_axis_tready.next = !self.wr_full.val() & self.armed.q.val();
        for i in 0..self.rdy.len() {
            self.s_axis_tready.next = self.rdy[i].q.val();
        }
        self.hs.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        self.last_beat.next = self.at_last.q.val();
        self.slots.write_address.next = self.wr_beat.q.val();
        if self.wr_slot.q.val() {
            self.slots.write_address.next = self.wr_beat.q.val() | self.slot_offset.val();
        }
        self.slots.write_data.next = self.s_axis_tdata.val();
        self.slots.write_enable.next = self.hs.val();
        self.tlast_error.next = self.hs.val() & (self.s_axis_tlast.val() != self.last_beat.val());
        self.at_last.d.next = self.wr_beat.q.val() == self.beats_m1.q.val();
        if self.hs.val() {
            self.at_last.d.next = self.wr_beat.q.val() == self.beats_m2.q.val();
            if self.last_beat.val() {
                self.at_last.d.next = !self.beats_m1.q.val().any();
            }
        }
        for i in 0..self.lc_m1.len() {
            self.lc_m1[i].clock.next = self.clock.val();
            self.lc_m2[i].clock.next = self.clock.val();
            self.lc_m1[i].enable.next = true;
            self.lc_m2[i].enable.next = true;
            self.lc_m1[i].d.next = self.beats.val() - 1;
            self.lc_m2[i].d.next = self.beats.val() - 2;
            self.at_last.d.next =
                (self.wr_beat.q.val() & self.beat_mask[i].val()) == self.lc_m1[i].q.val();
            if self.hs.val() {
                self.at_last.d.next =
                    (self.wr_beat.q.val() & self.beat_mask[i].val()) == self.lc_m2[i].q.val();
                if self.last_beat.val() {
                    self.at_last.d.next = !self.lc_m1[i].q.val().any();
                }
            }
        }
        if self.hs.val() {
            self.wr_beat.d.next = self.wr_beat.q.val() + 1;
            if !self.wr_beat.q.val().any() {
                if self.wr_slot.q.val() {
                    self.seq1.d.next = self.s_axis_tuser.val();
                } else {
                    self.seq0.d.next = self.s_axis_tuser.val();
                }
            }
            if self.last_beat.val() {
                self.wr_beat.d.next = 0.into();
                self.wr_slot.d.next = !self.wr_slot.q.val();
                if self.wr_slot.q.val() {
                    self.full1.d.next = true;
                } else {
                    self.full0.d.next = true;
                }
            }
        }
        for i in 0..self.not_first.len() {
            self.not_first[i].clock.next = self.clock.val();
            self.not_first[i].d.next = self.not_first[i].q.val();
            self.seq0.d.next = self.seq0.q.val();
            self.seq1.d.next = self.seq1.q.val();
            if self.hs.val() {
                self.not_first[i].d.next = !self.last_beat.val();
                if !self.not_first[i].q.val() {
                    if self.wr_slot.q.val() {
                        self.seq1.d.next = self.s_axis_tuser.val();
                    } else {
                        self.seq0.d.next = self.s_axis_tuser.val();
                    }
                }
            }
        }
        // Read side: the front end reads beats of the read slot by index.
        self.frame_ready.next = self.full0.q.val();
        self.seq_start.next = self.seq0.q.val();
        self.slots.read_address.next = self.rd_beat.val();
        if self.rd_slot.q.val() {
            self.frame_ready.next = self.full1.q.val();
            self.seq_start.next = self.seq1.q.val();
            self.slots.read_address.next = self.rd_beat.val() | self.slot_offset.val();
        }
        for i in 0..self.ready_q.len() {
            self.ready_q[i].clock.next = self.clock.val();
            self.seq_q[i].clock.next = self.clock.val();
            self.ready_q[i].d.next = self.full0.q.val();
            self.seq_q[i].d.next = self.seq0.q.val();
            if self.rd_slot.q.val() {
                self.ready_q[i].d.next = self.full1.q.val();
                self.seq_q[i].d.next = self.seq1.q.val();
            }
            self.frame_ready.next = self.ready_q[i].q.val();
            self.seq_start.next = self.seq_q[i].q.val();
        }
        self.slots.read_enable.next = self.rd_enable.val();
        self.rd_data.next = self.slots.read_data.val();
        // A slot is released only while full and never written then, so the two updates of a
        // `full` flag in one cycle always concern different slots.
        if self.consume.val() {
            self.rd_slot.d.next = !self.rd_slot.q.val();
            if self.rd_slot.q.val() {
                self.full1.d.next = false;
            } else {
                self.full0.d.next = false;
            }
        }
        for i in 0..self.consume_q.len() {
            self.consume_q[i].clock.next = self.clock.val();
            self.consume_q[i].d.next = self.consume.val();
            // The slot flags again, without the release above: the write side's ...
            self.rd_slot.d.next = self.rd_slot.q.val();
            self.full0.d.next = self.full0.q.val();
            self.full1.d.next = self.full1.q.val();
            if self.hs.val() & self.last_beat.val() {
                if self.wr_slot.q.val() {
                    self.full1.d.next = true;
                } else {
                    self.full0.d.next = true;
                }
            }
            // ... and release a cycle later.
            if self.consume_q[i].q.val() {
                self.rd_slot.d.next = !self.rd_slot.q.val();
                if self.rd_slot.q.val() {
                    self.full1.d.next = false;
                } else {
                    self.full0.d.next = false;
                }
            }
        }
        // Next cycle's ready from the next values of the flags it reads (so it equals
        // `!wr_full & armed` evaluated a cycle later), after every assignment of them.
        // The same, spelt out so the stream's `tvalid` only picks between two values computed
        // from flip-flops: the write slot's full flag after this cycle if no frame ends in it
        // (`rdy_keep`), and the other slot's if one does (`rdy_swap`). A slot is set full only
        // by its own last beat, so in both cases only `consume` can change it.
        for i in 0..self.rdy.len() {
            self.rdy[i].clock.next = self.clock.val();
            self.rdy_keep[i].next =
                !self.full0.q.val() | (self.consume_q[i].q.val() & !self.rd_slot.q.val());
            self.rdy_swap[i].next =
                !self.full1.q.val() | (self.consume_q[i].q.val() & self.rd_slot.q.val());
            if self.wr_slot.q.val() {
                self.rdy_keep[i].next =
                    !self.full1.q.val() | (self.consume_q[i].q.val() & self.rd_slot.q.val());
                self.rdy_swap[i].next =
                    !self.full0.q.val() | (self.consume_q[i].q.val() & !self.rd_slot.q.val());
            }
            self.rdy[i].d.next = self.rdy_keep[i].val() & self.armed.d.val();
            if self.s_axis_tvalid.val() & self.rdy[i].q.val() & self.at_last.q.val() {
                self.rdy[i].d.next = self.rdy_swap[i].val() & self.armed.d.val();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;

    #[test]
    fn in_buffer_is_valid_verilog() {
        for flag in [false, true] {
            let mut uut = InBuffer::with_flags(8, flag);
            uut.connect_all();
            yosys_validate("in_buffer", &generate_verilog(&uut)).unwrap();
        }
    }

    /// Frames of 1 to 4 beats (a slot's 4) arrive with gaps; the reader waits for whole
    /// frames, reads them back in order and sees the sequence-start flags; tlast errors are
    /// flagged.
    #[test]
    fn frames_are_whole_before_they_are_read() {
        for flag in [false, true] {
            for beats in 1..=4 {
                frames_are_whole(flag, 2, 5, beats);
            }
        }
    }

    /// Back-to-back beats and a slow reader: both slots fill, and the beat after a frame
    /// must wait (a ready one cycle stale would write it over an unread frame).
    #[test]
    fn a_full_buffer_holds_back_the_stream() {
        for flag in [false, true] {
            for beats in 1..=4 {
                frames_are_whole(flag, 1, 23, beats);
            }
        }
    }

    /// The writer presents a beat every `write_every` cycles, the reader starts a whole frame
    /// only on cycles that are multiples of `read_every`; frames of `beats` beats.
    fn frames_are_whole(first_flag: bool, write_every: u64, read_every: u64, beats: usize) {
        let mut sim = ClockedSim::new(InBuffer::with_flags(4, first_flag), |u, c| {
            u.clock.next = Clock::from(c)
        })
        .unwrap();
        sim.uut.beats.next = (beats as u64).into();
        let frames: Vec<Vec<u64>> = (0..5u64)
            .map(|f| (0..beats as u64).map(|b| f * 100 + b).collect())
            .collect();
        let (mut fi, mut bi) = (0usize, 0usize);
        let mut got: Vec<(bool, Vec<u64>)> = Vec::new();
        let mut reading: Option<(bool, usize, Vec<u64>)> = None;
        let mut pending_read = false;
        let release = sim.uut.release_delay();
        let mut consumed_at: Option<u64> = None;
        for cycle in 0..400u64 {
            let present = fi < frames.len() && cycle % write_every == 0;
            sim.uut.s_axis_tvalid.next = present;
            if present {
                sim.uut.s_axis_tdata.next = frames[fi][bi].into();
                sim.uut.s_axis_tuser.next = bi == 0 && fi % 2 == 0;
                sim.uut.s_axis_tlast.next = bi + 1 == beats;
            }
            sim.uut.rd_enable.next = false;
            sim.uut.consume.next = false;
            sim.settle().unwrap();
            assert!(!sim.uut.tlast_error.val());
            if pending_read {
                let v = sim.uut.rd_data.val().to_u64();
                reading.as_mut().unwrap().2.push(v);
                pending_read = false;
            }
            let released = consumed_at.is_none_or(|c| cycle >= c + release);
            if reading.is_none() && released && sim.uut.frame_ready.val() && cycle % read_every == 0
            {
                reading = Some((sim.uut.seq_start.val(), 0, Vec::new()));
            }
            if let Some((_, b, _)) = reading.as_mut() {
                if *b < beats {
                    sim.uut.rd_beat.next = (*b as u64).into();
                    sim.uut.rd_enable.next = true;
                    sim.uut.consume.next = *b + 1 == beats;
                    if *b + 1 == beats {
                        consumed_at = Some(cycle);
                    }
                    *b += 1;
                    pending_read = true;
                } else if !pending_read {
                    let (s, _, v) = reading.take().unwrap();
                    got.push((s, v));
                }
            }
            let hs = present && sim.uut.s_axis_tready.val();
            sim.settle().unwrap();
            sim.cycle().unwrap();
            if hs {
                bi += 1;
                if bi == beats {
                    bi = 0;
                    fi += 1;
                }
            }
        }
        let want: Vec<(bool, Vec<u64>)> = frames
            .iter()
            .enumerate()
            .map(|(f, v)| (f % 2 == 0, v.clone()))
            .collect();
        assert_eq!(got, want, "{beats} beats");
        if beats != 3 {
            return;
        }
        // A tlast on the second beat of a three-beat frame is an error.
        sim.uut.s_axis_tvalid.next = true;
        sim.uut.s_axis_tlast.next = false;
        sim.settle().unwrap();
        sim.cycle().unwrap();
        sim.uut.s_axis_tlast.next = true;
        sim.settle().unwrap();
        assert!(sim.uut.tlast_error.val());
    }
}
