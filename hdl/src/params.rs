//! Plain parameters of the accelerator and the memory images derived from a model.
//!
//! `deltagen` converts its `AccelConfig` and `Model` into these plain structs in one place, so
//! this crate does not depend on `deltagen` (which depends on it).

use std::fmt;

/// Widest activation / weight the datapath carries (deltas are one bit wider).
pub const ACT_BITS_MAX: u32 = 8;
pub const WEIGHT_BITS_MAX: u32 = 8;
/// Accumulator width of the datapath.
pub const ACC_BITS_MAX: u32 = 32;
/// Lanes of the input beat: `s_axis_tdata` is 8 bits per lane, 64 bits wide.
pub const LANES_MAX: u32 = 8;
/// Largest RLE run field.
pub const RUN_BITS_MAX: u32 = 8;
/// Largest requantization shift (the product y*M is at most 47 bits).
pub const SHIFT_MAX: u32 = 47;
/// Addresses are 16 bits wide everywhere.
pub const ADDR_LIMIT: u64 = 1 << 16;

/// Hardware parameters (a plain mirror of the accelerator config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwParams {
    pub pe_count: u32,
    pub act_bits: u32,
    pub weight_bits: u32,
    pub acc_bits: u32,
    pub rle_run_bits: u32,
    pub nz_lanes: u32,
    pub max_in: u32,
    pub max_out: u32,
    pub max_layers: u32,
    pub weight_bank_depth: u32,
    pub max_dsp: u32,
    /// Per-block copies of broadcast registers (`KeepReg`: the PEs' forwarding selects, the
    /// requant lanes' layer constants, the compactor's local `ready`), so no flip-flop drives
    /// across the device (ECP5). false on iCE40, where Yosys then merges the copies (every
    /// flip-flop takes a logic cell there, and the device is small).
    pub replicate: bool,
    /// One Y RAM per PE holding every layer's accumulators (iCE40), instead of two sets with
    /// layers alternating between them. The scan of a hidden layer's input and that layer's
    /// MACs then share the RAM's read port, so the decoder waits until the compactor has
    /// written the layer's terminator (every scan read is done by then); see `cycles.rs`.
    /// Half the Y block RAMs: the UP5K has 30 EBR, and two 32-bit sets are 4 per PE.
    pub one_y_ram: bool,
    /// The family's DSP block holds two signed 8x8 products (iCE40 SB_MAC16), so two PEs
    /// may share one (`pes_paired`).
    pub dual_mac: bool,
    /// A nonzero RLE word keeps the decoder at least two cycles (a one-chunk word's second
    /// cycle issues no op), so two consecutive ops never write the same Y word and the PE adds
    /// without forwarding the op one ahead (iCE40, where that multiplexer sat in front of the
    /// accumulator's carry chain on the critical path). Needs the registered chunk count
    /// (`replicate` false); `cycles.rs` counts the extra cycle.
    pub spaced_words: bool,
}

/// One fully-connected layer in plain integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub in_dim: usize,
    pub out_dim: usize,
    /// Row-major [out][in].
    pub weight: Vec<i8>,
    pub bias: Vec<i32>,
    /// Delta threshold of this layer's input encoder.
    pub theta: i32,
    pub multiplier: u32,
    pub shift: u32,
    pub tau: i32,
}

/// Why parameters or a model do not fit the hardware; names the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for HwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for HwError {}

fn err<T>(field: &str, reason: String) -> Result<T, HwError> {
    Err(HwError {
        field: field.to_string(),
        reason,
    })
}

impl HwParams {
    pub fn validate(&self) -> Result<(), HwError> {
        let p = self;
        if p.pe_count == 0 || p.pe_count > 64 {
            return err("pe_count", format!("{} not in 1..=64", p.pe_count));
        }
        if p.act_bits < 2 || p.act_bits > ACT_BITS_MAX {
            return err(
                "act_bits",
                format!("{} not in 2..={ACT_BITS_MAX}", p.act_bits),
            );
        }
        if p.weight_bits < 2 || p.weight_bits > WEIGHT_BITS_MAX {
            return err(
                "weight_bits",
                format!("{} not in 2..={WEIGHT_BITS_MAX}", p.weight_bits),
            );
        }
        if p.acc_bits < 8 || p.acc_bits > ACC_BITS_MAX {
            return err(
                "acc_bits",
                format!("{} not in 8..={ACC_BITS_MAX}", p.acc_bits),
            );
        }
        if p.rle_run_bits < 1 || p.rle_run_bits > RUN_BITS_MAX {
            return err(
                "rle_run_bits",
                format!("{} not in 1..={RUN_BITS_MAX}", p.rle_run_bits),
            );
        }
        if p.nz_lanes == 0 || p.nz_lanes > LANES_MAX {
            return err("nz_lanes", format!("{} not in 1..={LANES_MAX}", p.nz_lanes));
        }
        if p.pe_count % p.nz_lanes != 0 {
            return err(
                "nz_lanes",
                format!(
                    "{} must divide pe_count {} (the hidden-layer scan reads one Y chunk of \
                     pe_count values in pe_count/nz_lanes groups)",
                    p.nz_lanes, p.pe_count
                ),
            );
        }
        if p.spaced_words && p.replicate {
            return err(
                "spaced_words",
                "needs the registered chunk count of the iCE40 form (replicate = false)".into(),
            );
        }
        if p.max_layers == 0 || p.max_layers > 15 {
            return err("max_layers", format!("{} not in 1..=15", p.max_layers));
        }
        if p.max_in == 0 || p.max_out == 0 {
            return err("max_in", "max_in and max_out must be positive".into());
        }
        if p.max_in > 32768 || p.max_out > 32768 {
            // Element positions and the compactor's position + R limit are 16-bit.
            return err(
                "max_in",
                format!("max_in {} / max_out {} exceed 32768", p.max_in, p.max_out),
            );
        }
        if u64::from(p.weight_bank_depth) > ADDR_LIMIT || p.weight_bank_depth == 0 {
            return err(
                "weight_bank_depth",
                format!("{} not in 1..={ADDR_LIMIT}", p.weight_bank_depth),
            );
        }
        let g = self.geometry();
        if g.r_depth as u64 > ADDR_LIMIT || g.y_set_depth as u64 > ADDR_LIMIT {
            return err(
                "max_in",
                "max_in/max_out/max_layers give memories deeper than 16-bit addresses".into(),
            );
        }
        Ok(())
    }

    pub fn p(&self) -> usize {
        self.pe_count as usize
    }
    pub fn g(&self) -> usize {
        self.nz_lanes as usize
    }
    /// Two PEs per DSP block (`Mac8x2`): on a family with dual 8x8 blocks, an even PE count
    /// whose pairs fit the DSPs, when that puts more requant lanes (or PEs) on DSP blocks
    /// than one block per PE. (Eight UP5K PEs then take four DSPs, and two lanes the rest.)
    pub fn pes_paired(&self) -> bool {
        let (p, d) = (self.p(), self.max_dsp as usize);
        self.dual_mac
            && p % 2 == 0
            && p / 2 <= d
            && (self.lanes_on_dsp_left(d - p / 2) > self.lanes_on_dsp_left(d.saturating_sub(p))
                || p > d)
    }
    fn lanes_on_dsp_left(&self, dsps: usize) -> usize {
        self.g().min(dsps / 2)
    }
    /// DSP blocks the PEs take.
    pub fn pe_dsp_blocks(&self) -> usize {
        if self.pes_paired() {
            self.p() / 2
        } else {
            self.p().min(self.max_dsp as usize)
        }
    }
    /// Requant lanes whose two 16x16 products go to DSP blocks: the PEs take the DSPs first,
    /// then lanes 0, 1, ... as long as both of a lane's multipliers fit; the rest use LUTs.
    /// (The PEs stay first on iCE40 too: a PE's 8x9 LUT multiplier is one combinational
    /// stage, 15.5 MHz on a UP5K, while the lanes' LUT multipliers are pipelined.)
    pub fn rq_lanes_on_dsp(&self) -> usize {
        self.lanes_on_dsp_left((self.max_dsp as usize).saturating_sub(self.pe_dsp_blocks()))
    }
    /// PEs 0 .. this have their product from a DSP block, the others an 8x9 LUT multiplier.
    pub fn pes_on_dsp(&self) -> usize {
        if self.pes_paired() {
            self.p()
        } else {
            self.pe_dsp_blocks()
        }
    }
    /// Largest RLE run R = 2^rle_run_bits - 1.
    pub fn max_run(&self) -> u64 {
        (1u64 << self.rle_run_bits) - 1
    }
    /// Longest vector the compactor encodes: a layer-0 input (`max_in`) or a hidden layer's
    /// scan, which covers whole Y chunks (`max_out` rounded up to a multiple of P).
    pub fn max_vector_len(&self) -> usize {
        (self.max_in as usize).max(self.chunks(self.max_out as usize) * self.p())
    }
    /// The compactor never holds the front end: with one lane a group is at most one word,
    /// and when every position of the longest vector fits the run field (position <= R) no
    /// run needs a split word. Its `ready` is then the constant 1, which removes the stall
    /// from every scan, requant and encoder register (`Compactor::stall_free`).
    pub fn compactor_never_stalls(&self) -> bool {
        self.g() == 1 && self.max_vector_len() as u64 <= self.max_run() + 1
    }
    pub fn chunks(&self, out: usize) -> usize {
        out.div_ceil(self.p())
    }
    /// Groups a hidden-layer scan of `out` neurons takes: one Y chunk is read per P/G groups.
    pub fn hidden_groups(&self, out: usize) -> usize {
        self.chunks(out) * (self.p() / self.g())
    }
    /// Memory sizes fixed by the config (not by the model).
    pub fn geometry(&self) -> Geometry {
        let p = self.p();
        let g = self.g();
        let max_chunks = (self.max_out as usize).div_ceil(p);
        let layers = self.max_layers as usize;
        let y_set_depth = if self.one_y_ram {
            layers * max_chunks
        } else {
            layers.div_ceil(2) * max_chunks
        };
        let r_depth =
            (self.max_in as usize).div_ceil(g) + (layers.saturating_sub(1)) * max_chunks * (p / g);
        let mut fifo_depth = 4usize;
        while fifo_depth < self.max_in as usize + 2 {
            fifo_depth *= 2;
        }
        Geometry {
            in_slot_beats: (self.max_in as usize).div_ceil(g).next_power_of_two(),
            out_depth: (self.max_out as usize).next_power_of_two().max(2),
            weight_depth: self.weight_bank_depth as usize,
            y_set_depth,
            r_depth,
            fifo_depth,
            desc_depth: layers + 1,
        }
    }
}

/// Depths of the on-chip memories (words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Per PE bank, 8-bit weights.
    pub weight_depth: usize,
    /// Per PE bank and per Y set (layers alternate between two sets; with `one_y_ram` set A
    /// holds every layer), 32-bit accumulators.
    pub y_set_depth: usize,
    /// Per encoder lane, 8-bit references of every layer input.
    pub r_depth: usize,
    /// RLE word FIFO between the compactor and the decoder.
    pub fifo_depth: usize,
    /// Layer descriptors (one per layer plus the logit read-out entry).
    pub desc_depth: usize,
    /// Beats per slot of the two-frame input buffer (64-bit words).
    pub in_slot_beats: usize,
    /// Logit FIFO (33-bit words: logit and tlast).
    pub out_depth: usize,
}

/// Per-layer descriptor fields as stored in the descriptor ROMs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// Inputs of this layer (= neurons scanned from the previous layer).
    pub in_dim: u64,
    pub chunks: u64,
    pub wbase: u64,
    /// Base of Y_l in its set (set = layer parity).
    pub ybase: u64,
    pub theta: u64,
    pub rbase: u64,
    /// Encoder groups of this layer's input vector.
    pub groups: u64,
    /// Scan source (previous layer, or the last layer for the read-out entry).
    pub src_ybase: u64,
    pub multiplier: u64,
    pub shift: u64,
    pub round: u64,
    pub ysat: u64,
    pub tau: u64,
    pub zmax: u64,
    /// Set for the read-out entry after the last layer.
    pub is_readout: bool,
    /// Words the sequence-start initialisation writes (same in every entry).
    pub init_words: u64,
    /// Input beats per frame, ceil(in_0 / G) (same in every entry).
    pub frame_beats: u64,
    /// Logits per frame (same in every entry).
    pub out_dim: u64,
}

/// Descriptor ROM fields: (file stem, bit width).
pub const DESC_FIELDS: [(&str, usize); 18] = [
    ("in_dim", 16),
    ("chunks", 16),
    ("wbase", 16),
    ("ybase", 16),
    ("theta", 9),
    ("rbase", 16),
    ("groups", 16),
    ("src_ybase", 16),
    ("multiplier", 16),
    ("shift", 8),
    ("round", 48),
    ("ysat", 32),
    ("tau", 8),
    ("zmax", 8),
    ("readout", 1),
    ("init_words", 16),
    ("frame_beats", 16),
    ("out_dim", 16),
];

impl Descriptor {
    pub fn field(&self, i: usize) -> u64 {
        match i {
            0 => self.in_dim,
            1 => self.chunks,
            2 => self.wbase,
            3 => self.ybase,
            4 => self.theta,
            5 => self.rbase,
            6 => self.groups,
            7 => self.src_ybase,
            8 => self.multiplier,
            9 => self.shift,
            10 => self.round,
            11 => self.ysat,
            12 => self.tau,
            13 => self.zmax,
            14 => u64::from(self.is_readout),
            15 => self.init_words,
            16 => self.frame_beats,
            _ => self.out_dim,
        }
    }
}

/// Everything the memories hold for one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub geometry: Geometry,
    /// [bank][address], 8-bit two's complement.
    pub weights: Vec<Vec<u64>>,
    /// [set][bank][address], 32-bit two's complement biases (the Y initial values).
    pub bias: [Vec<Vec<u64>>; 2],
    pub descriptors: Vec<Descriptor>,
    /// Cycles the sequence-start initialisation takes (bias copy and reference clear).
    pub init_words: usize,
}

/// Smallest accumulator value that requantizes to zmax (see docs/arithmetic.md); values at or
/// above it saturate before the multiply.
pub fn ysat(multiplier: u32, shift: u32, act_bits: u32) -> i64 {
    let m = i64::from(multiplier);
    let half = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
    let zmax = (1i64 << (act_bits - 1)) - 1;
    let target = zmax * (1i64 << shift) - half;
    (target + m - 1) / m
}

/// Checks that `layers` fit `params` and lays out every memory.
pub fn build_image(params: &HwParams, layers: &[LayerSpec]) -> Result<Image, HwError> {
    params.validate()?;
    let geo = params.geometry();
    let p = params.p();
    let g = params.g();
    if layers.is_empty() {
        return err("layers", "the model has no layer".into());
    }
    if layers.len() > params.max_layers as usize {
        return err(
            "max_layers",
            format!(
                "model has {} layers, config allows {}",
                layers.len(),
                params.max_layers
            ),
        );
    }
    let amax = (1i64 << (params.act_bits - 1)) - 1;
    let wmin = -(1i64 << (params.weight_bits - 1));
    let wmax = (1i64 << (params.weight_bits - 1)) - 1;
    for (l, ly) in layers.iter().enumerate() {
        let f = |name: &str| format!("layer{l}.{name}");
        if ly.in_dim == 0 || ly.out_dim == 0 {
            return err(&f("weight"), "zero-sized layer".into());
        }
        if ly.in_dim > params.max_in as usize {
            return err(
                &f("weight"),
                format!("{} inputs exceed max_in {}", ly.in_dim, params.max_in),
            );
        }
        if ly.out_dim > params.max_out as usize {
            return err(
                &f("weight"),
                format!("{} outputs exceed max_out {}", ly.out_dim, params.max_out),
            );
        }
        if l > 0 && layers[l - 1].out_dim != ly.in_dim {
            return err(
                &f("weight"),
                format!(
                    "{} inputs but layer{} has {} outputs",
                    ly.in_dim,
                    l - 1,
                    layers[l - 1].out_dim
                ),
            );
        }
        if ly.weight.len() != ly.in_dim * ly.out_dim || ly.bias.len() != ly.out_dim {
            return err(
                &f("weight"),
                "weight/bias length does not match the shape".into(),
            );
        }
        if let Some(i) = ly
            .weight
            .iter()
            .position(|&w| i64::from(w) < wmin || i64::from(w) > wmax)
        {
            return err(
                &f("weight"),
                format!(
                    "element {i} = {} outside weight_bits {}",
                    ly.weight[i], params.weight_bits
                ),
            );
        }
        if ly.theta < 0 {
            return err(&f("theta"), format!("{} is negative", ly.theta));
        }
        let last = l + 1 == layers.len();
        if !last {
            if ly.multiplier == 0 || ly.multiplier >= 1 << 16 {
                return err(
                    &f("requant.multiplier"),
                    format!("{} not in 1..65536", ly.multiplier),
                );
            }
            if ly.shift > SHIFT_MAX {
                return err(
                    &f("requant.shift"),
                    format!("{} exceeds {SHIFT_MAX}", ly.shift),
                );
            }
            if ly.tau < 0 || i64::from(ly.tau) > amax + 1 {
                return err(&f("tau"), format!("{} not in 0..={}", ly.tau, amax + 1));
            }
        }
    }
    // Weight banks: bank p, address wbase_l + c*in_l + j holds W_l[c*P + p][j] (chunk-major, so
    // the decoder steps from chunk to chunk by adding in_l, no multiplier).
    let mut weights = vec![Vec::<u64>::new(); p];
    let mut wbase = Vec::new();
    let mut ybase = Vec::new();
    let mut set_fill = [0usize; 2];
    for (l, ly) in layers.iter().enumerate() {
        let chunks = params.chunks(ly.out_dim);
        wbase.push(weights[0].len());
        for c in 0..chunks {
            for j in 0..ly.in_dim {
                for (bank, wb) in weights.iter_mut().enumerate() {
                    let o = c * p + bank;
                    let w = if o < ly.out_dim {
                        ly.weight[o * ly.in_dim + j]
                    } else {
                        0
                    };
                    wb.push(u64::from(w as u8));
                }
            }
        }
        let set = if params.one_y_ram { 0 } else { l % 2 };
        ybase.push(set_fill[set]);
        set_fill[set] += chunks;
    }
    if weights[0].len() > geo.weight_depth {
        return err(
            "weight_bank_depth",
            format!(
                "model needs {} words per bank, config has {}",
                weights[0].len(),
                geo.weight_depth
            ),
        );
    }
    if set_fill[0] > geo.y_set_depth || set_fill[1] > geo.y_set_depth {
        return err("max_out", "accumulators do not fit the Y memories".into());
    }
    let mut bias = [
        vec![vec![0u64; geo.y_set_depth]; p],
        vec![vec![0u64; geo.y_set_depth]; p],
    ];
    for (l, ly) in layers.iter().enumerate() {
        for (o, &b) in ly.bias.iter().enumerate() {
            let set = if params.one_y_ram { 0 } else { l % 2 };
            bias[set][o % p][ybase[l] + o / p] = u64::from(b as u32);
        }
    }
    let mut descriptors = Vec::new();
    let mut rbase = 0usize;
    for (l, ly) in layers.iter().enumerate() {
        let groups = if l == 0 {
            ly.in_dim.div_ceil(g)
        } else {
            params.hidden_groups(layers[l - 1].out_dim)
        };
        let mut d = Descriptor {
            in_dim: ly.in_dim as u64,
            chunks: params.chunks(ly.out_dim) as u64,
            wbase: wbase[l] as u64,
            ybase: ybase[l] as u64,
            // |d| <= 255, so any theta >= 511 behaves like 511 (the encoder's 9-bit port).
            theta: (ly.theta as u64).min(0x1ff),
            rbase: rbase as u64,
            groups: groups as u64,
            zmax: amax as u64,
            ..Default::default()
        };
        if l > 0 {
            let prev = &layers[l - 1];
            d.src_ybase = ybase[l - 1] as u64;
            d.multiplier = u64::from(prev.multiplier);
            d.shift = u64::from(prev.shift);
            d.round = if prev.shift == 0 {
                0
            } else {
                1u64 << (prev.shift - 1)
            };
            d.ysat =
                ysat(prev.multiplier, prev.shift, params.act_bits).clamp(1, u32::MAX as i64) as u64;
            d.tau = prev.tau as u64;
        }
        rbase += groups;
        descriptors.push(d);
    }
    let lastl = layers.len() - 1;
    descriptors.push(Descriptor {
        in_dim: layers[lastl].out_dim as u64,
        src_ybase: ybase[lastl] as u64,
        is_readout: true,
        ..Default::default()
    });
    if rbase > geo.r_depth {
        return err("max_in", "reference memory too small for the model".into());
    }
    let init_words = set_fill[0].max(set_fill[1]).max(rbase);
    let frame_beats = layers[0].in_dim.div_ceil(g) as u64;
    for d in descriptors.iter_mut() {
        d.init_words = init_words as u64;
        d.frame_beats = frame_beats;
        d.out_dim = layers[lastl].out_dim as u64;
    }
    Ok(Image {
        geometry: geo,
        weights,
        bias,
        descriptors,
        init_words,
    })
}
