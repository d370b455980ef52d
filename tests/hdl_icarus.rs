//! The generated Verilog itself (not the rust-hdl simulation model) run in Icarus Verilog on a
//! small random model: logits bit-exact against the golden model and cycles equal to the cycle
//! model. (The Verilator testbenches do the heavy co-simulation; this keeps the RTL honest in a
//! second simulator and checks the $readmemh images.)
//!
//! The second test runs the same bench on the netlist `deltagen synth` places for an iCE40
//! (Yosys' `synth_ice40` with the flow's own commands, the vendor cells from Yosys' simulation
//! library): what synthesis does to the hand-instantiated DSP blocks, the block RAM images and
//! the iCE40-only logic is then checked against the golden model too.

use std::fmt::Write as _;
use std::process::Command;

use std::path::Path;

use deltagen::config::AccelConfig;
use deltagen::random::{generate, RandomSpec};
use deltagen::synth::Family;
use deltagen::{cycles, golden, hw};
use deltagen_hdl::design::build_design;
use deltagen_hdl::params::HwParams;

fn spec() -> RandomSpec {
    let mut spec = RandomSpec::new(vec![13, 9, 6, 3], 2, 4, 31);
    spec.theta = 1;
    spec.tau = 1;
    spec.change_prob = 0.4;
    spec
}

#[test]
fn generated_verilog_matches_golden_in_icarus() {
    let mut cfg = AccelConfig::preset("tiny-2pe").unwrap();
    cfg.nz_lanes = 2;
    let tmp = tempfile::tempdir().unwrap();
    run(&cfg, &spec(), tmp.path(), false);
    // One lane with runs as long as the vectors: the stall-free compactor (its `ready` is
    // written twice per evaluation, which an event-driven simulator sees).
    cfg.nz_lanes = 1;
    cfg.rle_run_bits = 7;
    assert!(hw::hw_params(&cfg).compactor_never_stalls());
    let tmp = tempfile::tempdir().unwrap();
    run(&cfg, &spec(), tmp.path(), false);
}

/// The iCE40 netlist, on a config whose two PEs share one SB_MAC16 (`Mac8x2`) and whose
/// requant lane takes two more (inferred by `synth_ice40 -dsp`).
#[test]
fn ice40_netlist_matches_golden_in_icarus() {
    let mut cfg = AccelConfig::preset("tiny-2pe").unwrap();
    cfg.nz_lanes = 2;
    cfg.max_dsp = 3;
    let params = hw::hw_params(&cfg);
    assert!(params.pes_paired() && params.rq_lanes_on_dsp() == 1);
    let tmp = tempfile::tempdir().unwrap();
    run(&cfg, &spec(), tmp.path(), true);
    // The bench ran on the mapped netlist: the DSP blocks are there with the Mac8x2 setting.
    let gate = std::fs::read_to_string(tmp.path().join("gate.v")).unwrap();
    assert_eq!(gate.matches("SB_MAC16 #(").count(), 3, "three DSP blocks");
    assert_eq!(
        gate.matches(".MODE_8x8(1'h1)").count(),
        1,
        "one dual 8x8 block"
    );
}

/// The preset that carries the UP5K's timing target, as its netlist: paired DSP blocks, the
/// inferred requant multipliers, the stall-free compactor and the iCE40 flags, after Yosys has
/// folded this model's descriptor constants into them.
#[test]
fn ice40_8pe_netlist_matches_golden_in_icarus() {
    let cfg = AccelConfig::preset("ice40-up5k-8pe").unwrap();
    let params = hw::hw_params(&cfg);
    assert!(params.pes_paired() && params.compactor_never_stalls());
    let mut spec = RandomSpec::new(vec![20, 16, 10, 4], 2, 3, 43);
    spec.theta = 1;
    spec.tau = 1;
    spec.change_prob = 0.4;
    let tmp = tempfile::tempdir().unwrap();
    run(&cfg, &spec, tmp.path(), true);
    // Four dual 8x8 blocks for the PEs and the requant lane's two 16x16 products, each an
    // instance (session 22: Yosys 0.23's own mapping of that lane lost its low product).
    let gate = std::fs::read_to_string(tmp.path().join("gate.v")).unwrap();
    assert_eq!(gate.matches("SB_MAC16 #(").count(), 6, "six DSP blocks");
    assert_eq!(gate.matches(".MODE_8x8(1'h1)").count(), 4, "four dual 8x8");
}

/// The 4-PE UP5K preset (the BasicMotions flow's): one DSP block per PE, inferred by Yosys from
/// the PE's registered multiply, and both requant lanes on the other four.
#[test]
fn ice40_4pe_netlist_matches_golden_in_icarus() {
    let cfg = AccelConfig::preset("ice40-up5k-4pe").unwrap();
    let params = hw::hw_params(&cfg);
    assert!(!params.pes_paired() && params.rq_lanes_on_dsp() == 2);
    let mut spec = RandomSpec::new(vec![18, 12, 9, 3], 2, 3, 47);
    spec.theta = 1;
    spec.change_prob = 0.4;
    let tmp = tempfile::tempdir().unwrap();
    run(&cfg, &spec, tmp.path(), true);
    let gate = std::fs::read_to_string(tmp.path().join("gate.v")).unwrap();
    assert_eq!(gate.matches("SB_MAC16 #(").count(), 8, "eight DSP blocks");
}

/// Synthesizes `deltagen_top.v` in `dir` with the iCE40 flow's Yosys commands and writes the
/// mapped netlist as `gate.v`.
fn synthesize_ice40(dir: &Path, params: &HwParams) {
    let dsps = u64::from(params.max_dsp);
    let script = format!(
        "read_verilog deltagen_top.v\n{}\nwrite_verilog -noattr gate.v\n",
        Family::Ice40.synth_cmd("deltagen_top", dsps)
    );
    std::fs::write(dir.join("synth.ys"), script).unwrap();
    let out = Command::new("yosys")
        .current_dir(dir)
        .args(["-q", "-l", "yosys.log", "-s", "synth.ys"])
        .output()
        .expect("yosys runs (tools/setup.sh installs it)");
    assert!(
        out.status.success(),
        "yosys: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the bench in Icarus on the RTL (`gate` false) or on its iCE40 netlist, in `dir`, and
/// checks the logits against the golden model and the busy cycles against the cycle model.
fn run(cfg: &AccelConfig, spec: &RandomSpec, dir: &Path, gate: bool) {
    let (model, inputs) = generate(spec);
    let params = hw::hw_params(cfg);
    let design = build_design(&params, &hw::layer_specs(&model).unwrap()).unwrap();
    let lanes = cfg.nz_lanes as usize;
    let n_in = model.input_size();
    let beats = n_in.div_ceil(lanes);
    // Stimulus: one line per beat {tuser, tlast, tdata[63:0]}, expected logits from the golden model.
    let mut stim = String::new();
    let mut expect = Vec::new();
    let mut predicted = 0u64;
    for (s, seq) in inputs.frames.outer_iter().enumerate() {
        let outs = golden::run_sequence(&model, seq.view(), s).unwrap();
        for (t, x) in seq.outer_iter().enumerate() {
            for b in 0..beats {
                let mut data = 0u64;
                for g in 0..lanes {
                    if let Some(v) = x.get(b * lanes + g) {
                        data |= u64::from(*v as u8) << (8 * g);
                    }
                }
                let user = u128::from(t == 0 && b == 0);
                let last = u128::from(b + 1 == beats);
                let word = (user << 65) | (last << 64) | u128::from(data);
                writeln!(stim, "{word:017x}").unwrap();
            }
            expect.extend(outs[t].logits.iter().copied());
            let masks: Vec<Vec<bool>> = outs[t]
                .deltas
                .iter()
                .map(|d| d.iter().map(|v| *v != 0).collect())
                .collect();
            predicted += cycles::frame_cycles(cfg, &model, &masks, t == 0);
        }
    }
    let n_beats = stim.lines().count();
    let tb = format!(
        "`timescale 1ns/1ps
module tb;
  reg clock = 0; always #5 clock = ~clock;
  reg [65:0] stim [0:{last_beat}];
  initial $readmemh(\"stim.hex\", stim);
  integer beat = 0; integer cycle = 0; integer got = 0; integer busy_cycles = 0;
  wire tready, mvalid, mlast, busy, done, error; wire [31:0] mdata;
  // Both streams stall about a quarter of the cycles (a 16-bit LFSR): no logit may be lost and
  // the busy cycles must not change.
  reg [15:0] lfsr = 16'hace1;
  wire tvalid = beat < {n_beats} && !(lfsr[0] & lfsr[5]);
  wire mready = !(lfsr[2] & lfsr[9]);
  deltagen_top dut(.clock(clock), .s_axis_tvalid(tvalid), .s_axis_tready(tready),
    .s_axis_tdata(stim[beat][63:0]), .s_axis_tuser(stim[beat][65]), .s_axis_tlast(stim[beat][64]),
    .m_axis_tvalid(mvalid), .m_axis_tready(mready), .m_axis_tdata(mdata), .m_axis_tlast(mlast),
    .busy(busy), .done(done), .error(error));
  always @(posedge clock) begin
    cycle <= cycle + 1;
    lfsr <= {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
    if (busy) busy_cycles = busy_cycles + 1;
    if (tvalid && tready) beat <= beat + 1;
    if (mvalid && mready) begin
      $display(\"L %0d\", $signed(mdata));
      got = got + 1;
      if (got == {n_logits}) begin $display(\"B %0d\", busy_cycles); $finish; end
    end
    if (error) begin $display(\"ERROR\"); $finish; end
    if (cycle > 200000) begin $display(\"TIMEOUT\"); $finish; end
  end
endmodule
",
        last_beat = n_beats - 1,
        n_logits = expect.len(),
    );
    std::fs::write(dir.join("deltagen_top.v"), &design.verilog).unwrap();
    for (name, text) in &design.hex_files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(dir.join("stim.hex"), stim).unwrap();
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    let mut iverilog = Command::new("iverilog");
    iverilog
        .current_dir(dir)
        .args(["-g2012", "-o", "sim", "tb.v"]);
    if gate {
        synthesize_ice40(dir, &params);
        // NO_ICE40_DEFAULT_ASSIGNMENTS: cells_sim.v's port defaults are SystemVerilog that
        // Icarus 11 refuses; the netlist connects every port the models read.
        iverilog
            .args(["-DNO_ICE40_DEFAULT_ASSIGNMENTS", "gate.v"])
            .arg(deltagen_hdl::tools::ice40_cells_sim().unwrap());
    } else {
        iverilog.arg("deltagen_top.v");
    }
    let st = iverilog.status().unwrap();
    assert!(st.success());
    let out = Command::new("vvp")
        .current_dir(dir)
        .arg("sim")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("ERROR") && !text.contains("TIMEOUT"),
        "{text}"
    );
    let mut got = Vec::new();
    let mut busy = 0u64;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.first() {
            Some(&"L") => got.push(f[1].parse::<i32>().unwrap()),
            Some(&"B") => busy = f[1].parse().unwrap(),
            _ => {}
        }
    }
    assert_eq!(got, expect);
    // The cycle model counts each frame's busy cycles plus its Idle cycle.
    let frames = inputs.frames.shape()[0] as u64 * inputs.frames.shape()[1] as u64;
    assert_eq!(
        busy + frames * cycles::IDLE_CYCLES,
        predicted,
        "Icarus cycles vs cycle model"
    );
}
