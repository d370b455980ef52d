//! Packs up to eight 8-bit lanes into one 64-bit word (lane g in bits 8g+7..8g).
//!
//! rust-hdl's `hdl_gen` cannot build a word from a runtime number of lanes (a signal read in the
//! same update returns its settled value, so it cannot accumulate), so this block writes its
//! Verilog by hand and packs natively in simulation.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct LanePack {
    pub lane: Vec<Signal<In, Bits<8>>>,
    pub word: Signal<Out, Bits<64>>,
}

impl LanePack {
    pub fn new(lanes: usize) -> Self {
        assert!((1..=8).contains(&lanes));
        Self {
            lane: (0..lanes).map(|_| Default::default()).collect(),
            word: Default::default(),
        }
    }
}

impl Logic for LanePack {
    fn update(&mut self) {
        let mut w = 0u64;
        for (g, l) in self.lane.iter().enumerate() {
            w |= l.val().to_u64() << (8 * g);
        }
        self.word.next = w.into();
    }
    fn connect(&mut self) {
        self.word.connect();
    }
    fn hdl(&self) -> Verilog {
        let n = self.lane.len();
        let mut parts: Vec<String> = (0..n).rev().map(|g| format!("lane${g}")).collect();
        if n < 8 {
            parts.insert(0, format!("{}'d0", 64 - 8 * n));
        }
        Verilog::Custom(format!("always @(*) word = {{{}}};\n", parts.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::settle_block;

    #[test]
    fn lane_pack_is_valid_verilog() {
        for n in [1, 3, 8] {
            let mut uut = LanePack::new(n);
            uut.connect_all();
            yosys_validate(&format!("lane_pack_{n}"), &generate_verilog(&uut)).unwrap();
        }
    }

    #[test]
    fn lanes_land_in_their_bytes() {
        let mut uut = LanePack::new(3);
        uut.connect_all();
        for (g, v) in [0x12u64, 0xff, 0x80].iter().enumerate() {
            uut.lane[g].next = (*v).into();
        }
        settle_block(&mut uut).unwrap();
        assert_eq!(uut.word.val().to_u64(), 0x80ff12);
    }
}
