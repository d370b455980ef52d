//! On-chip memories with a registered read port (maps to iCE40 EBR / ECP5 DP16KD).
//!
//! Depth is a runtime value (from the accelerator config, not the model) and the contents of
//! ROMs come from `$readmemh` files written by `deltagen generate`, so a new model needs no RTL
//! change. The simulation model is read-first: a read and a write to the same address in one
//! cycle return the old word, exactly like the Verilog below (both are non-blocking).
//!
//! A memory whose users never need the word of a same-cycle read/write collision (the PE's Y
//! sets forward those writes, the encoder's groups never read an address being written) is
//! marked `no_rw_check`. Yosys then maps it without the collision bypass (a saved write word, an
//! address compare and a multiplexer on every read bit, which sat on the BRAM's critical
//! clock-to-out path). To keep that promise checked, simulation returns the old word inverted on
//! a collision (the Verilog does so outside `SYNTHESIS`), so any use of it breaks the
//! bit-exact tests.

use rust_hdl::prelude::*;

/// Address bits needed for `depth` words (at least 1).
pub fn addr_bits(depth: usize) -> usize {
    let mut b = 1;
    while (1usize << b) < depth {
        b += 1;
    }
    b
}

fn verilog_init(init_file: &Option<String>, at: usize) -> String {
    match init_file {
        Some(f) if at > 0 => format!("initial $readmemh(\"{f}\", ram, {at});\n"),
        Some(f) => format!("initial $readmemh(\"{f}\", ram);\n"),
        None => String::new(),
    }
}

/// `no_rw_check` memories (module doc): a `collide` wire that is high on a same-cycle
/// read/write of one word in simulation and constant low for Yosys (`SYNTHESIS`), then the
/// attribute, which must come right before the memory's `reg` declaration.
fn collide_verilog(a: usize) -> String {
    format!(
        "wire collide;\n\
`ifdef SYNTHESIS\n\
assign collide = 1'b0;\n\
`else\n\
assign collide = write_enable && read_address[{a}:0] == write_address[{a}:0];\n\
`endif\n\
(* no_rw_check *)\n"
    )
}

/// The simulation side of `collide`: a read of the word being written this cycle.
fn collides(read: usize, write_enable: bool, write: usize, mask: usize) -> bool {
    write_enable && write & mask == read
}

/// Simple dual-port RAM: one synchronous read port with read enable (the output register holds
/// while `read_enable` is low, which lets a stalled pipeline keep its data), one write port.
#[derive(LogicBlock)]
pub struct SyncRam<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<16>>,
    pub read_enable: Signal<In, bool>,
    pub read_data: Signal<Out, Bits<W>>,
    pub write_address: Signal<In, Bits<16>>,
    pub write_enable: Signal<In, bool>,
    pub write_data: Signal<In, Bits<W>>,
    _mem: Vec<u64>,
    _init_file: Option<String>,
    /// First address `init` and the file fill.
    _init_at: usize,
    /// See the module doc.
    _no_rw_check: bool,
}

/// The simulation image of a memory: `init`, zero-padded to `depth` words (at least one).
fn image(depth: usize, init: &[u64]) -> Vec<u64> {
    let mut mem = vec![0u64; depth.max(1)];
    for (m, v) in mem.iter_mut().zip(init) {
        *m = *v;
    }
    mem
}

impl<const W: usize> SyncRam<W> {
    /// A RAM of `depth` words, optionally initialised from `init` (simulation) and `init_file`
    /// (the `$readmemh` file holding the same words, for synthesis and other simulators).
    pub fn new(depth: usize, init: &[u64], init_file: Option<String>) -> Self {
        Self::new_at(depth, 0, init, init_file)
    }

    /// As [`SyncRam::new`], with `init` (and the file) filling the words from address `at` on
    /// (a RAM whose upper part holds constants, e.g. the biases above the accumulators).
    pub fn new_at(depth: usize, at: usize, init: &[u64], init_file: Option<String>) -> Self {
        let mut mem = vec![0u64; depth.max(1)];
        for (m, v) in mem.iter_mut().skip(at).zip(init) {
            *m = *v;
        }
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_enable: Default::default(),
            read_data: Default::default(),
            write_address: Default::default(),
            write_enable: Default::default(),
            write_data: Default::default(),
            _mem: mem,
            _init_file: init_file,
            _init_at: at,
            _no_rw_check: false,
        }
    }
    /// Collisions are never used (module doc): no bypass logic in synthesis, poisoned reads in
    /// simulation.
    pub fn no_rw_check(mut self) -> Self {
        self._no_rw_check = true;
        self
    }
    pub fn depth(&self) -> usize {
        self._mem.len()
    }
}

impl<const W: usize> Logic for SyncRam<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let depth = self._mem.len();
            let ab = addr_bits(depth);
            let mask = (1usize << ab) - 1;
            if self.read_enable.val() {
                let a = self.read_address.val().index() & mask;
                let mut v = if a < depth { self._mem[a] } else { 0 };
                let we = self.write_enable.val();
                if self._no_rw_check && collides(a, we, self.write_address.val().index(), mask) {
                    v = !v & (u64::MAX >> (64 - W));
                }
                self.read_data.next = Bits::<W>::from(v);
            }
            if self.write_enable.val() {
                let a = self.write_address.val().index() & mask;
                if a < depth {
                    self._mem[a] = self.write_data.val().to_u64();
                }
            }
        }
    }
    fn connect(&mut self) {
        self.read_data.connect();
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let ab = addr_bits(depth);
        let a = ab - 1;
        let (collide, poison) = if self._no_rw_check {
            (collide_verilog(a), format!(" ^ {{{W}{{collide}}}}"))
        } else {
            (String::new(), String::new())
        };
        Verilog::Custom(format!(
            "{collide}reg [{w}:0] ram [0:{d}];\n{init}\
always @(posedge clock) begin\n\
   if (read_enable) read_data <= ram[read_address[{a}:0]]{poison};\n\
   if (write_enable) ram[write_address[{a}:0]] <= write_data;\n\
end\n",
            w = W - 1,
            d = depth - 1,
            init = verilog_init(&self._init_file, self._init_at),
        ))
    }
    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "sync_ram".into(),
            clock: "clock".into(),
            inputs: vec![
                "read_address".into(),
                "read_enable".into(),
                "write_address".into(),
                "write_enable".into(),
                "write_data".into(),
            ],
            outputs: vec!["read_data".into()],
        }]
    }
}

/// [`SyncRam`] holding one byte per lane in each word: all lanes share the read and write
/// addresses, `lanes` bytes are read and written together. Always `no_rw_check` (module doc):
/// its user, the delta encoder, never reads the address it writes. One memory `8 * lanes` bits
/// wide, so the lanes of a group fill block RAM words instead of each lane taking a block RAM of
/// its own.
#[derive(LogicBlock)]
pub struct SyncRamBytes {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<16>>,
    pub read_enable: Signal<In, bool>,
    pub read_data: Vec<Signal<Out, Bits<8>>>,
    pub write_address: Signal<In, Bits<16>>,
    pub write_enable: Signal<In, bool>,
    pub write_data: Vec<Signal<In, Bits<8>>>,
    _mem: Vec<u64>,
}

impl SyncRamBytes {
    /// `lanes` (1..=8) bytes per word, `depth` words, zero initialised.
    pub fn new(lanes: usize, depth: usize) -> Self {
        assert!((1..=8).contains(&lanes));
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_enable: Default::default(),
            read_data: (0..lanes).map(|_| Default::default()).collect(),
            write_address: Default::default(),
            write_enable: Default::default(),
            write_data: (0..lanes).map(|_| Default::default()).collect(),
            _mem: vec![0; depth.max(1)],
        }
    }
}

impl Logic for SyncRamBytes {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let depth = self._mem.len();
            let mask = (1usize << addr_bits(depth)) - 1;
            if self.read_enable.val() {
                let a = self.read_address.val().index() & mask;
                let mut v = if a < depth { self._mem[a] } else { 0 };
                if collides(
                    a,
                    self.write_enable.val(),
                    self.write_address.val().index(),
                    mask,
                ) {
                    v = !v;
                }
                for (k, r) in self.read_data.iter_mut().enumerate() {
                    r.next = Bits::<8>::from((v >> (8 * k)) & 0xff);
                }
            }
            if self.write_enable.val() {
                let a = self.write_address.val().index() & mask;
                if a < depth {
                    self._mem[a] = self
                        .write_data
                        .iter()
                        .enumerate()
                        .fold(0, |w, (k, d)| w | (d.val().to_u64() << (8 * k)));
                }
            }
        }
    }
    fn connect(&mut self) {
        for r in &mut self.read_data {
            r.connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let ab = addr_bits(depth);
        let lanes = self.read_data.len();
        let word = (0..lanes)
            .rev()
            .map(|k| format!("write_data${k}"))
            .collect::<Vec<_>>()
            .join(", ");
        let reads: String = (0..lanes)
            .map(|k| {
                format!(
                    "   if (read_enable) read_data${k} <= ram[read_address[{a}:0]][{hi}:{lo}] ^ \
{{8{{collide}}}};\n",
                    a = ab - 1,
                    hi = 8 * k + 7,
                    lo = 8 * k
                )
            })
            .collect();
        Verilog::Custom(format!(
            "{collide}reg [{w}:0] ram [0:{d}];\n\
always @(posedge clock) begin\n\
{reads}\
   if (write_enable) ram[write_address[{a}:0]] <= {{{word}}};\n\
end\n",
            w = 8 * lanes - 1,
            d = depth - 1,
            a = ab - 1,
            collide = collide_verilog(ab - 1),
        ))
    }
    fn timing(&self) -> Vec<TimingInfo> {
        let lanes = self.read_data.len();
        let mut inputs: Vec<String> = vec![
            "read_address".into(),
            "read_enable".into(),
            "write_address".into(),
            "write_enable".into(),
        ];
        inputs.extend((0..lanes).map(|k| format!("write_data${k}")));
        vec![TimingInfo {
            name: "sync_ram_bytes".into(),
            clock: "clock".into(),
            inputs,
            outputs: (0..lanes).map(|k| format!("read_data${k}")).collect(),
        }]
    }
}

/// ROM with a registered read port and read enable; contents from a `$readmemh` file.
#[derive(LogicBlock)]
pub struct SyncRom<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<16>>,
    pub read_enable: Signal<In, bool>,
    pub read_data: Signal<Out, Bits<W>>,
    _mem: Vec<u64>,
    _init_file: String,
}

impl<const W: usize> SyncRom<W> {
    pub fn new(depth: usize, init: &[u64], init_file: String) -> Self {
        let mem = image(depth, init);
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_enable: Default::default(),
            read_data: Default::default(),
            _mem: mem,
            _init_file: init_file,
        }
    }
}

impl<const W: usize> Logic for SyncRom<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.read_enable.val() {
            let depth = self._mem.len();
            let mask = (1usize << addr_bits(depth)) - 1;
            let a = self.read_address.val().index() & mask;
            let v = if a < depth { self._mem[a] } else { 0 };
            self.read_data.next = Bits::<W>::from(v);
        }
    }
    fn connect(&mut self) {
        self.read_data.connect();
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        Verilog::Custom(format!(
            "reg [{w}:0] ram [0:{d}];\n{init}\
always @(posedge clock) begin\n\
   if (read_enable) read_data <= ram[read_address[{a}:0]];\n\
end\n",
            w = W - 1,
            d = depth - 1,
            a = addr_bits(depth) - 1,
            init = verilog_init(&Some(self._init_file.clone()), 0),
        ))
    }
    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "sync_rom".into(),
            clock: "clock".into(),
            inputs: vec!["read_address".into(), "read_enable".into()],
            outputs: vec!["read_data".into()],
        }]
    }
}

/// Hex text for `$readmemh`: one word per line, `width` bits each.
pub fn hex_lines(words: &[u64], width: usize) -> String {
    let digits = width.div_ceil(4);
    let mut s = String::with_capacity(words.len() * (digits + 1));
    for w in words {
        let masked = if width >= 64 {
            *w
        } else {
            w & ((1u64 << width) - 1)
        };
        s.push_str(&format!("{masked:0digits$x}\n"));
    }
    s
}
