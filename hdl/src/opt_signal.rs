//! A port that exists in the Verilog only when asked for.
//!
//! rust-hdl writes every `Signal` field of a block as a port. A port that one family needs and
//! another does not (the PE's connection to a shared DSP block on iCE40) would then change the
//! other family's Verilog, whose timing was closed on it byte for byte. A `Vec<Signal>` port
//! avoids that, but rust-hdl's Verilog generator resolves only the first index of a name, so a
//! parent cannot write `self.pes[b].port[0]`. `OptSignal` is used like a plain `Signal`
//! (`.next`, `.val()`, through `Deref`) and shows itself to rust-hdl's probes (Verilog ports,
//! connection checks) only when present; code that reads or drives it must then sit in a
//! loop over a Vec that is empty when it is absent, so no Verilog names it.

use std::ops::{Deref, DerefMut};

use rust_hdl::prelude::*;

pub struct OptSignal<D: Direction, T: Synth> {
    sig: Signal<D, T>,
    present: bool,
}

impl<D: Direction, T: Synth> OptSignal<D, T> {
    pub fn new(present: bool) -> Self {
        Self {
            sig: Default::default(),
            present,
        }
    }
    pub fn present(&self) -> bool {
        self.present
    }
}

impl<D: Direction, T: Synth> Default for OptSignal<D, T> {
    fn default() -> Self {
        Self::new(false)
    }
}

impl<D: Direction, T: Synth> Deref for OptSignal<D, T> {
    type Target = Signal<D, T>;
    fn deref(&self) -> &Self::Target {
        &self.sig
    }
}

impl<D: Direction, T: Synth> DerefMut for OptSignal<D, T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.sig
    }
}

impl<D: Direction, T: Synth> Logic for OptSignal<D, T> {
    fn update(&mut self) {}
    fn connect(&mut self) {
        self.sig.connect();
    }
}

impl<D: Direction, T: Synth> Block for OptSignal<D, T> {
    fn connect_all(&mut self) {
        self.sig.connect_all();
    }
    fn update_all(&mut self) {
        self.sig.update_all();
    }
    fn has_changed(&self) -> bool {
        self.sig.has_changed()
    }
    fn accept(&self, name: &str, probe: &mut dyn Probe) {
        if self.present {
            self.sig.accept(name, probe);
        }
    }
}
