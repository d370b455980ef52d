//! Drives a `DeltaTop` in the rust-hdl simulator: frames in over `s_axis`, logits out of
//! `m_axis`, optional seeded random stalls on both streams, busy cycles counted per frame.

use crate::harness::ClockedSim;
use crate::top::DeltaTop;
use rust_hdl::prelude::*;

/// One input frame and whether it starts a sequence.
pub struct FrameIn {
    pub seq_start: bool,
    pub x: Vec<i8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOut {
    pub logits: Vec<Vec<i32>>,
    /// Cycles with `busy` high, per frame (one busy interval per frame: from leaving Idle to the
    /// last logit written into the logit FIFO). Stream stalls never lengthen it.
    pub busy_cycles: Vec<u64>,
    /// All cycles simulated.
    pub total_cycles: u64,
    /// Hidden activations seen on the monitor port, per frame: (hidden layer, neuron, value).
    pub acts: Vec<Vec<(usize, usize, i8)>>,
}

/// Tiny xorshift so stalls are reproducible without another dependency.
struct Stall {
    state: u64,
    prob: f64,
}

impl Stall {
    fn hit(&mut self) -> bool {
        if self.prob <= 0.0 {
            return false;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((self.state >> 11) as f64 / (1u64 << 53) as f64) < self.prob
    }
}

/// Runs `frames` through `top` (`lanes` = nz_lanes, `outputs` = logits per frame).
pub fn run_frames(
    top: DeltaTop,
    lanes: usize,
    outputs: usize,
    frames: &[FrameIn],
    stall_prob: f64,
    seed: u64,
) -> Result<RunOut, String> {
    let mut sim = ClockedSim::new(top, |u, c| u.clock.next = Clock::from(c))?;
    let mut stall = Stall {
        state: seed | 1,
        prob: stall_prob,
    };
    let mut out = RunOut {
        logits: Vec::new(),
        busy_cycles: Vec::new(),
        total_cycles: 0,
        acts: Vec::new(),
    };
    let mut cur_logits = Vec::new();
    let mut busy = 0u64;
    let mut fi = 0usize;
    let mut beat = 0usize;
    let limit = 200_000 + frames.iter().map(|f| f.x.len() as u64).sum::<u64>() * 400;
    while out.logits.len() < frames.len() {
        if sim.cycles > limit {
            return Err(format!(
                "no progress: {} of {} frames done after {} cycles",
                out.logits.len(),
                frames.len(),
                sim.cycles
            ));
        }
        // Present the current beat (data stable until accepted).
        let mut tvalid = false;
        if fi < frames.len() {
            let f = &frames[fi];
            let groups = f.x.len().div_ceil(lanes);
            let mut data = 0u64;
            for g in 0..lanes {
                let i = beat * lanes + g;
                if i < f.x.len() {
                    data |= u64::from(f.x[i] as u8) << (8 * g);
                }
            }
            tvalid = !stall.hit();
            sim.uut.s_axis_tdata.next = data.into();
            sim.uut.s_axis_tuser.next = f.seq_start && beat == 0;
            sim.uut.s_axis_tlast.next = beat + 1 == groups;
        }
        sim.uut.s_axis_tvalid.next = tvalid;
        let tready_out = !stall.hit();
        sim.uut.m_axis_tready.next = tready_out;
        sim.settle()?;
        let in_hs = tvalid && sim.uut.s_axis_tready.val();
        let out_hs = tready_out && sim.uut.m_axis_tvalid.val();
        let out_data = sim.uut.m_axis_tdata.val().to_u64() as u32 as i32;
        let out_last = sim.uut.m_axis_tlast.val();
        if sim.uut.busy.val() {
            if busy == 0 {
                out.acts.push(Vec::new());
            }
            if sim.uut.mon_valid.val() {
                let layer = sim.uut.mon_layer.val().index() - 1;
                let base = sim.uut.mon_base.val().index();
                let mask = sim.uut.mon_lanes.val().to_u64();
                let z = sim.uut.mon_z.val().to_u64();
                let frame = out.acts.last_mut().expect("pushed above");
                for g in 0..lanes {
                    if mask >> g & 1 == 1 {
                        frame.push((layer, base + g, (z >> (8 * g)) as u8 as i8));
                    }
                }
            }
            busy += 1;
        } else if busy > 0 {
            out.busy_cycles.push(busy);
            busy = 0;
        }
        if sim.uut.error.val() {
            return Err(format!(
                "accelerator raised `error` (tlast or compactor overrun) at frame {fi}"
            ));
        }
        sim.cycle()?;
        if in_hs {
            beat += 1;
            if beat == frames[fi].x.len().div_ceil(lanes) {
                beat = 0;
                fi += 1;
            }
        }
        if out_hs {
            cur_logits.push(out_data);
            if out_last {
                if cur_logits.len() != outputs {
                    return Err(format!(
                        "frame {}: {} logits before tlast, expected {outputs}",
                        out.logits.len(),
                        cur_logits.len()
                    ));
                }
                out.logits.push(std::mem::take(&mut cur_logits));
            }
        }
    }
    out.total_cycles = sim.cycles;
    Ok(out)
}
