//! Delta encoder with its reference (delta state) memory: `nz_lanes` elements per cycle.
//!
//! Stage E0: a group of lanes arrives with the reference address; the reference words are read.
//! Stage E1: d = x - r per lane, nz = lane valid and |d| > theta; where nz, r := x (written back
//! when the group leaves E1). The group then goes to the nonzero compactor.
//! Everything advances only when `adv` is high (the compactor is ready), so a stall keeps the
//! group and the BRAM output registers unchanged.

use crate::mem::SyncRam;
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
    rmem: Vec<SyncRam<8>>,
    e1_valid: DFF<bool>,
    e1_x: Vec<DFF<Bits<8>>>,
    e1_lanes: DFF<Bits<8>>,
    e1_base: DFF<Bits<16>>,
    e1_last: DFF<bool>,
    e1_raddr: DFF<Bits<16>>,
    xs: Vec<Signal<Local, Signed<9>>>,
    rs: Vec<Signal<Local, Signed<9>>>,
    ds: Vec<Signal<Local, Signed<9>>>,
    mag: Vec<Signal<Local, Bits<9>>>,
    nz: Vec<Signal<Local, bool>>,
    nzbit: Vec<Signal<Local, Bits<8>>>,
    /// nzacc[i] = nz bits of lanes 0..=i (a chain, since HDL locals are assigned once).
    nzacc: Vec<Signal<Local, Bits<8>>>,
    lane_bit: Vec<Constant<Bits<8>>>,
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
            rmem: (0..lanes)
                .map(|_| SyncRam::new(r_depth, &[], None))
                .collect(),
            e1_valid: Default::default(),
            e1_x: sigs(lanes),
            e1_lanes: Default::default(),
            e1_base: Default::default(),
            e1_last: Default::default(),
            e1_raddr: Default::default(),
            xs: sigs(lanes),
            rs: sigs(lanes),
            ds: sigs(lanes),
            mag: sigs(lanes),
            nz: sigs(lanes),
            nzbit: sigs(lanes),
            nzacc: sigs(lanes),
            lane_bit: (0..lanes)
                .map(|i| Constant::new((1u64 << i).into()))
                .collect(),
        }
    }
    pub fn lanes(&self) -> usize {
        self.rmem.len()
    }
}

impl Logic for DeltaEncoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, e1_valid, e1_lanes, e1_base, e1_last, e1_raddr);
        if self.adv.val() {
            self.e1_valid.d.next = self.in_valid.val();
            self.e1_lanes.d.next = self.in_lanes.val();
            self.e1_base.d.next = self.in_base.val();
            self.e1_last.d.next = self.in_last.val();
            self.e1_raddr.d.next = self.in_raddr.val();
        }
        self.out_valid.next = self.e1_valid.q.val();
        self.out_base.next = self.e1_base.q.val();
        self.out_last.next = self.e1_last.q.val();
        for i in 0..self.rmem.len() {
            self.e1_x[i].clock.next = self.clock.val();
            self.e1_x[i].d.next = self.e1_x[i].q.val();
            if self.adv.val() {
                self.e1_x[i].d.next = self.in_x[i].val();
            }
            self.rmem[i].clock.next = self.clock.val();
            self.rmem[i].read_address.next = self.in_raddr.val();
            self.rmem[i].read_enable.next = self.adv.val();
            self.xs[i].next = signed_bit_cast::<9, 8>(signed_cast(self.e1_x[i].q.val()));
            self.rs[i].next = signed_bit_cast::<9, 8>(signed_cast(self.rmem[i].read_data.val()));
            self.ds[i].next = self.xs[i].val() - self.rs[i].val();
            self.mag[i].next = unsigned_cast(self.ds[i].val());
            if self.ds[i].val().get_bit(8) {
                self.mag[i].next = unsigned_cast(-self.ds[i].val());
            }
            self.nz[i].next = (self.e1_lanes.q.val() & self.lane_bit[i].val()).any()
                & (self.mag[i].val() > self.theta.val());
            self.nzbit[i].next = 0.into();
            if self.nz[i].val() {
                self.nzbit[i].next = self.lane_bit[i].val();
            }
            self.out_d[i].next = unsigned_cast(self.ds[i].val());
            self.rmem[i].write_address.next = self.e1_raddr.q.val();
            self.rmem[i].write_data.next = self.e1_x[i].q.val();
            self.rmem[i].write_enable.next =
                self.e1_valid.q.val() & self.adv.val() & self.nz[i].val();
            if self.clear.val() {
                self.rmem[i].write_address.next = self.clear_addr.val();
                self.rmem[i].write_data.next = 0.into();
                self.rmem[i].write_enable.next = true;
            }
        }
        self.nzacc[0].next = self.nzbit[0].val();
        for i in 1..self.rmem.len() {
            self.nzacc[i].next = self.nzacc[i - 1].val() | self.nzbit[i].val();
        }
        self.out_nz.next = 0.into();
        if self.e1_valid.q.val() {
            self.out_nz.next = self.nzacc[self.rmem.len() - 1].val();
        }
    }
}
