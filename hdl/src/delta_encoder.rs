//! Delta encoder with its reference (delta state) memory: `nz_lanes` elements per cycle.
//!
//! Stage E0: a group of lanes arrives with the reference address; the reference words are read.
//! Stage E1: the reference words leave the BRAM into a register (`m_r`), so no logic hangs on
//! the BRAM's clock-to-out; on ECP5 that register becomes the DP16KD's own output register
//! (`outreg` pass of `deltagen synth`).
//! Stage M: d = x - r per lane, nz = lane valid and |d| > theta.
//! Stage E2: d and nz registered (the compactor's input is a flip-flop, not the compare path);
//! where nz, r := x, written back when the group leaves E2. Consecutive groups use consecutive
//! reference addresses, so the read of a group never meets a pending write.
//! Everything advances only when `adv` is high (the compactor is ready), so a stall keeps the
//! group and the BRAM output registers unchanged.
//!
//! All lanes read and write the same reference address, so their references share one memory
//! word (one byte per lane): a group's word is written back whole in E1, x where the lane is
//! nonzero and the r just read elsewhere. Eight lanes of 512 references take two ECP5 block RAMs
//! instead of eight.

use crate::encoder_lane::EncoderLane;
use crate::keep_reg::KeepReg;
use crate::lane_bounds::LaneBounds;
use crate::mem::SyncRamBytes;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct DeltaEncoder {
    pub clock: Signal<In, Clock>,
    pub adv: Signal<In, bool>,
    pub in_valid: Signal<In, bool>,
    pub in_x: Vec<Signal<In, Bits<8>>>,
    /// Lanes that hold an element (the tail of a vector leaves some lanes empty).
    pub in_lanes: Signal<In, Bits<8>>,
    /// Element index of lane 0.
    pub in_base: Signal<In, Bits<16>>,
    /// Last group of the vector.
    pub in_last: Signal<In, bool>,
    pub in_raddr: Signal<In, Bits<16>>,
    /// Delta threshold, clamped to 511 (no 9-bit delta exceeds it).
    pub theta: Signal<In, Bits<9>>,
    /// Sequence start: zero the reference word `clear_addr` in every lane.
    pub clear: Signal<In, bool>,
    pub clear_addr: Signal<In, Bits<16>>,
    pub out_valid: Signal<Out, bool>,
    pub out_d: Vec<Signal<Out, Bits<9>>>,
    pub out_nz: Signal<Out, Bits<8>>,
    pub out_base: Signal<Out, Bits<16>>,
    pub out_last: Signal<Out, bool>,
    rmem: SyncRamBytes,
    e1_valid: DFF<bool>,
    e1_x: Vec<DFF<Bits<8>>>,
    e1_lanes: DFF<Bits<8>>,
    e1_base: DFF<Bits<16>>,
    e1_last: DFF<bool>,
    e1_raddr: DFF<Bits<16>>,
    m_valid: DFF<bool>,
    m_x: Vec<DFF<Bits<8>>>,
    m_r: Vec<DFF<Bits<8>>>,
    m_lanes: DFF<Bits<8>>,
    m_base: DFF<Bits<16>>,
    m_last: DFF<bool>,
    m_raddr: DFF<Bits<16>>,
    e2_valid: DFF<bool>,
    e2_d: Vec<DFF<Bits<9>>>,
    e2_x: Vec<DFF<Bits<8>>>,
    e2_r: Vec<DFF<Bits<8>>>,
    e2_nz: DFF<Bits<8>>,
    e2_base: DFF<Bits<16>>,
    e2_last: DFF<bool>,
    e2_raddr: DFF<Bits<16>>,
    lane: Vec<EncoderLane>,
    nzbit: Vec<Signal<Local, Bits<8>>>,
    /// nzacc[i] = nz bits of lanes below i (a chain, since HDL locals are assigned once).
    nzacc: Vec<Signal<Local, Bits<8>>>,
    lane_bit: Vec<Constant<Bits<8>>>,
    /// iCE40 (`registered_bounds`): each lane's bounds as addends (`LaneBounds`: r < x - theta
    /// is bit 11 of r + k_lo clear, r > x + theta is bit 11 of r + k_hi set), formed in E1 and
    /// registered beside `m_x`, so M holds two carry chains that start at flip-flops and the OR
    /// of the lanes, not a subtract, an inverted compare operand and a compare in series. One
    /// entry per lane on iCE40, none on ECP5, whose Verilog stays as its timing was closed on.
    /// The lane-valid gate (`m_valid`, `m_lanes`) joins the two carries in the LUT that ORs
    /// them: a select of empty addends in front of the registers (the previous form) sat
    /// between the add's carry chain and its sum bits, and nextpnr split the chain around it
    /// (the UP5K's worst path on several seeds, session 22).
    m_klo: Vec<DFF<Bits<12>>>,
    m_khi: Vec<DFF<Bits<12>>>,
    bounds: Vec<LaneBounds>,
    /// With the bounds: ~x beside `e1_x` (per lane) and the layer's addends theta + 2049 and
    /// 2048 - theta (per lane: Yosys merges the copies), so each bound is one add of two
    /// flip-flops (`LaneBounds`).
    /// They load with `adv`, so a group is tested against the theta of the cycle it entered E1.
    /// (The addends are layer constants without a power-up value, `KeepReg::layer_constant`.)
    e1_nx: Vec<DFF<Bits<8>>>,
    t_lo: Vec<KeepReg<12>>,
    t_hi: Vec<KeepReg<12>>,
}

fn sigs<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

impl DeltaEncoder {
    /// `lanes` lanes, each with a reference memory of `r_depth` words.
    pub fn new(lanes: usize, r_depth: usize) -> Self {
        Self {
            clock: Default::default(),
            adv: Default::default(),
            in_valid: Default::default(),
            in_x: sigs(lanes),
            in_lanes: Default::default(),
            in_base: Default::default(),
            in_last: Default::default(),
            in_raddr: Default::default(),
            theta: Default::default(),
            clear: Default::default(),
            clear_addr: Default::default(),
            out_valid: Default::default(),
            out_d: sigs(lanes),
            out_nz: Default::default(),
            out_base: Default::default(),
            out_last: Default::default(),
            rmem: SyncRamBytes::new(lanes, r_depth),
            e1_valid: Default::default(),
            e1_x: sigs(lanes),
            e1_lanes: Default::default(),
            e1_base: Default::default(),
            e1_last: Default::default(),
            e1_raddr: Default::default(),
            m_valid: Default::default(),
            m_x: sigs(lanes),
            m_r: sigs(lanes),
            m_lanes: Default::default(),
            m_base: Default::default(),
            m_last: Default::default(),
            m_raddr: Default::default(),
            e2_valid: Default::default(),
            e2_d: sigs(lanes),
            e2_x: sigs(lanes),
            e2_r: sigs(lanes),
            e2_nz: Default::default(),
            e2_base: Default::default(),
            e2_last: Default::default(),
            e2_raddr: Default::default(),
            lane: sigs(lanes),
            nzbit: sigs(lanes),
            nzacc: sigs(lanes + 1),
            lane_bit: (0..lanes)
                .map(|i| Constant::new((1u64 << i).into()))
                .collect(),
            m_klo: Vec::new(),
            m_khi: Vec::new(),
            bounds: Vec::new(),
            e1_nx: Vec::new(),
            t_lo: Vec::new(),
            t_hi: Vec::new(),
        }
    }

    /// With `on`, the threshold bounds are registered a stage early (`m_klo`, `m_khi`): the same
    /// outputs cycle for cycle, with theta sampled when the group enters E1 rather than in M
    /// (theta is a layer constant, so the accelerator cannot tell).
    pub fn registered_bounds(mut self, on: bool) -> Self {
        let n = if on { self.lane.len() } else { 0 };
        self.m_klo = sigs(n);
        self.m_khi = sigs(n);
        self.bounds = sigs(n);
        self.e1_nx = sigs(n);
        self.t_lo = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.t_hi = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self
    }
    pub fn lanes(&self) -> usize {
        self.lane.len()
    }
}

impl Logic for DeltaEncoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, e1_valid, e1_lanes, e1_base, e1_last, e1_raddr, m_valid, m_lanes, m_base,
            m_last, m_raddr, e2_valid, e2_nz, e2_base, e2_last, e2_raddr
        );
        if self.adv.val() {
            self.e1_valid.d.next = self.in_valid.val();
            self.e1_lanes.d.next = self.in_lanes.val();
            self.e1_base.d.next = self.in_base.val();
            self.e1_last.d.next = self.in_last.val();
            self.e1_raddr.d.next = self.in_raddr.val();
            self.m_valid.d.next = self.e1_valid.q.val();
            self.m_lanes.d.next = self.e1_lanes.q.val();
            self.m_base.d.next = self.e1_base.q.val();
            self.m_last.d.next = self.e1_last.q.val();
            self.m_raddr.d.next = self.e1_raddr.q.val();
            self.e2_valid.d.next = self.m_valid.q.val();
            self.e2_base.d.next = self.m_base.q.val();
            self.e2_last.d.next = self.m_last.q.val();
            self.e2_raddr.d.next = self.m_raddr.q.val();
        }
        self.out_valid.next = self.e2_valid.q.val();
        self.out_base.next = self.e2_base.q.val();
        self.out_last.next = self.e2_last.q.val();
        self.rmem.clock.next = self.clock.val();
        self.rmem.read_address.next = self.in_raddr.val();
        self.rmem.read_enable.next = self.adv.val();
        self.rmem.write_address.next = self.e2_raddr.q.val();
        self.rmem.write_enable.next = self.e2_valid.q.val() & self.adv.val();
        if self.clear.val() {
            self.rmem.write_address.next = self.clear_addr.val();
            self.rmem.write_enable.next = true;
        }
        for i in 0..self.lane.len() {
            self.e1_x[i].clock.next = self.clock.val();
            self.e1_x[i].d.next = self.e1_x[i].q.val();
            if self.adv.val() {
                self.e1_x[i].d.next = self.in_x[i].val();
            }
            self.m_x[i].clock.next = self.clock.val();
            self.m_r[i].clock.next = self.clock.val();
            self.m_x[i].d.next = self.m_x[i].q.val();
            self.m_r[i].d.next = self.m_r[i].q.val();
            if self.adv.val() {
                self.m_x[i].d.next = self.e1_x[i].q.val();
                self.m_r[i].d.next = self.rmem.read_data[i].val();
            }
            self.lane[i].x.next = self.m_x[i].q.val();
            self.lane[i].r.next = self.m_r[i].q.val();
            self.lane[i].theta.next = self.theta.val();
            self.lane[i].valid.next = self.m_lanes.q.val().get_bit(i);
            self.e2_d[i].clock.next = self.clock.val();
            self.e2_x[i].clock.next = self.clock.val();
            self.e2_r[i].clock.next = self.clock.val();
            self.e2_d[i].d.next = self.e2_d[i].q.val();
            self.e2_x[i].d.next = self.e2_x[i].q.val();
            self.e2_r[i].d.next = self.e2_r[i].q.val();
            if self.adv.val() {
                self.e2_d[i].d.next = self.lane[i].d.val();
                self.e2_x[i].d.next = self.m_x[i].q.val();
                self.e2_r[i].d.next = self.m_r[i].q.val();
            }
            self.out_d[i].next = self.e2_d[i].q.val();
            // Write-back: r := x where nonzero, the word read keeps the other bytes.
            self.rmem.write_data[i].next = self.e2_r[i].q.val();
            if self.e2_nz.q.val().get_bit(i) {
                self.rmem.write_data[i].next = self.e2_x[i].q.val();
            }
            if self.clear.val() {
                self.rmem.write_data[i].next = 0.into();
            }
        }
        // OR of the lane bits as an ascending chain: every element is written before it is read
        // (Icarus does not re-run a block for its own writes), indices loop-relative for the
        // Verilog generator.
        self.nzacc[0].next = 0.into();
        for i in 0..self.lane.len() {
            self.nzbit[i].next = 0.into();
            if self.lane[i].nz.val() & self.m_valid.q.val() {
                self.nzbit[i].next = self.lane_bit[i].val();
            }
            self.nzacc[i + 1].next = self.nzacc[i].val() | self.nzbit[i].val();
        }
        // iCE40: the lane bits again, from the registered bounds (the chain above then has no
        // loads and Yosys removes it with the lanes' adders).
        for i in 0..self.t_lo.len() {
            self.t_lo[i].clock.next = self.clock.val();
            self.t_hi[i].clock.next = self.clock.val();
            self.t_lo[i].enable.next = self.adv.val();
            self.t_hi[i].enable.next = self.adv.val();
            self.t_lo[i].d.next = bit_cast::<12, 9>(self.theta.val()) + 2049;
            self.t_hi[i].d.next = bits::<12>(2048) - bit_cast::<12, 9>(self.theta.val());
        }
        for i in 0..self.m_klo.len() {
            self.m_klo[i].clock.next = self.clock.val();
            self.m_khi[i].clock.next = self.clock.val();
            self.e1_nx[i].clock.next = self.clock.val();
            self.e1_nx[i].d.next = self.e1_nx[i].q.val();
            if self.adv.val() {
                self.e1_nx[i].d.next = !self.in_x[i].val();
            }
            self.bounds[i].nx.next = self.e1_nx[i].q.val();
            self.bounds[i].t_lo.next = self.t_lo[i].q.val();
            self.bounds[i].t_hi.next = self.t_hi[i].q.val();
            self.bounds[i].r.next = self.m_r[i].q.val();
            self.m_klo[i].d.next = self.m_klo[i].q.val();
            self.m_khi[i].d.next = self.m_khi[i].q.val();
            if self.adv.val() {
                self.m_klo[i].d.next = self.bounds[i].k_lo.val();
                self.m_khi[i].d.next = self.bounds[i].k_hi.val();
            }
            // Bit 11 of each sum (masked: a signal for the sum would leave 11 bits unread).
            self.nzbit[i].next = 0.into();
            if self.m_valid.q.val()
                & self.m_lanes.q.val().get_bit(i)
                & (!((self.bounds[i].r12.val() + self.m_klo[i].q.val()) & 2048).any()
                    | ((self.bounds[i].r12.val() + self.m_khi[i].q.val()) & 2048).any())
            {
                self.nzbit[i].next = self.lane_bit[i].val();
            }
            self.nzacc[i + 1].next = self.nzacc[i].val() | self.nzbit[i].val();
        }
        // Outputs are assigned once per evaluation (no glitch for a parent block to react to).
        for i in self.lane.len()..(self.lane.len() + 1) {
            if self.adv.val() {
                self.e2_nz.d.next = self.nzacc[i].val();
            }
        }
        self.out_nz.next = self.e2_nz.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use deltagen::arith::delta_encode;
    use rand::{Rng, SeedableRng};

    #[test]
    fn delta_encoder_yosys_validate() {
        let mut uut = DeltaEncoder::new(3, 8);
        uut.connect_all();
        yosys_validate("deltagen_hdl_encoder", &generate_verilog(&uut)).unwrap();
    }

    /// Random groups with random stalls and a theta change mid-stream; every lane against
    /// `arith::delta_encode`, in both forms (bounds formed in M, and registered from E1).
    #[test]
    fn delta_encoder_matches_golden() {
        for lanes in [1, 3, 8] {
            for bounds in [false, true] {
                encoder_vs_golden(lanes, bounds);
            }
        }
    }

    /// A group in the pipeline: (values, lane mask, reference address).
    type Group = (Vec<i8>, u64, usize);

    fn encoder_vs_golden(lanes: usize, bounds: bool) {
        let depth = 8;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let uut = DeltaEncoder::new(lanes, depth).registered_bounds(bounds);
        let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
        for a in 0..depth as u64 {
            sim.uut.clear.next = true;
            sim.uut.clear_addr.next = a.into();
            sim.cycle().unwrap();
        }
        sim.uut.clear.next = false;
        let mut refs = vec![vec![0i32; lanes]; depth];
        let mut addr = 0usize;
        let mut x: Vec<i8> = vec![0; lanes];
        let mut mask = 0u64;
        // The group held in E1, with the theta of the cycle it entered E1 (the registered
        // bounds'), and in M: (values, lane mask, address).
        let mut e1: Option<(Group, i32)> = None;
        // The group in M, with the theta it is tested against in the registered form:
        let mut m: Option<(Group, i32)> = None;
        // The group in E2, whose outputs are visible, with the theta it was tested against in M.
        let mut e2: Option<(Group, i32)> = None;
        let mut checked = 0;
        for step in 0..3000 {
            // Layer thresholds change between vectors in use; here every 500 groups, over the
            // whole range (511: nothing is nonzero).
            let theta: i32 = [0, 7, 1, 100, 511, 30][step / 500];
            sim.uut.theta.next = (theta as u64).into();
            let adv = rng.gen_bool(0.7);
            sim.uut.in_valid.next = true;
            sim.uut.in_raddr.next = (addr as u64).into();
            sim.uut.in_lanes.next = mask.into();
            for (i, xi) in x.iter().enumerate() {
                sim.uut.in_x[i].next = u64::from(*xi as u8).into();
            }
            sim.uut.adv.next = adv;
            sim.settle().unwrap();
            assert_eq!(sim.uut.out_valid.val(), e2.is_some());
            if let (true, Some(((ex, em, ea), theta))) = (adv, &e2) {
                let theta = *theta;
                let nz = sim.uut.out_nz.val().to_u64();
                for lane in 0..lanes {
                    let valid = em & (1 << lane) != 0;
                    let (de, re) = delta_encode(i32::from(ex[lane]), refs[*ea][lane], theta);
                    let emit = valid && de != 0;
                    assert_eq!(nz & (1 << lane) != 0, emit, "lane {lane} step {step}");
                    if emit {
                        let d9 = sim.uut.out_d[lane].val().to_u64() as i32;
                        assert_eq!(if d9 >= 256 { d9 - 512 } else { d9 }, de);
                        refs[*ea][lane] = re;
                        checked += 1;
                    }
                }
            }
            sim.cycle().unwrap();
            if adv {
                e2 = m
                    .take()
                    .map(|(g, theta_e1)| (g, if bounds { theta_e1 } else { theta }));
                m = e1.take();
                e1 = Some(((x.clone(), mask, addr), theta));
                // Next group: new values, next address (consecutive groups never share one).
                addr = (addr + 1) % depth;
                mask = rng.gen_range(0..(1u64 << lanes));
                for xi in x.iter_mut() {
                    if rng.gen_bool(0.5) {
                        *xi = rng.gen();
                    }
                }
            }
        }
        assert!(checked > 500);
    }
}
