//! Whole-accelerator rust-hdl simulation, bit-exact against the golden model.

use deltagen::config::AccelConfig;
use deltagen::cycles;
use deltagen::golden;
use deltagen::hw;
use deltagen::random::{generate, RandomSpec};
use deltagen_hdl::drive::{run_frames, FrameIn};
use deltagen_hdl::params::build_image;
use deltagen_hdl::top::DeltaTop;

fn check(cfg: &AccelConfig, spec: &RandomSpec, stall: f64) {
    let (model, inputs) = generate(spec);
    let params = hw::hw_params(cfg);
    let specs = hw::layer_specs(&model).unwrap();
    let image = build_image(&params, &specs).unwrap();
    let top = DeltaTop::new(&params, &image, "").unwrap();
    let mut frames = Vec::new();
    let mut expect = Vec::new();
    let mut predicted = Vec::new();
    let mut expect_acts = Vec::new();
    for (s, seq) in inputs.frames.outer_iter().enumerate() {
        let outs = golden::run_sequence(&model, seq.view(), s).unwrap();
        for (t, x) in seq.outer_iter().enumerate() {
            frames.push(FrameIn {
                seq_start: t == 0,
                x: x.to_vec(),
            });
            expect.push(outs[t].logits.clone());
            let mut acts = Vec::new();
            for (l, a) in outs[t].acts.iter().enumerate() {
                acts.extend(a.iter().enumerate().map(|(i, v)| (l, i, *v as i8)));
            }
            expect_acts.push(acts);
            let masks: Vec<Vec<bool>> = outs[t]
                .deltas
                .iter()
                .map(|d| d.iter().map(|v| *v != 0).collect())
                .collect();
            predicted.push(cycles::frame_cycles(cfg, &model, &masks, t == 0));
        }
    }
    let run = run_frames(
        top,
        params.g(),
        model.output_size(),
        &frames,
        stall,
        spec.seed,
    )
    .unwrap();
    for (f, (got, exp)) in run.logits.iter().zip(&expect).enumerate() {
        assert_eq!(got, exp, "frame {f} logits (stall {stall})");
    }
    // Every hidden activation passes the monitor once per frame, layer by layer, in order
    // (the scan also covers the zero-weight padding up to a multiple of P: not activations).
    let widths: Vec<usize> = model.layers.iter().map(|l| l.outputs()).collect();
    let got_acts: Vec<Vec<(usize, usize, i8)>> = run
        .acts
        .iter()
        .map(|f| f.iter().copied().filter(|a| a.1 < widths[a.0]).collect())
        .collect();
    assert_eq!(got_acts, expect_acts, "hidden activations (stall {stall})");
    // Frames start only when whole in the input buffer with room for their logits, so stalls
    // on either stream never change a frame's busy cycles.
    let rtl: Vec<u64> = run
        .busy_cycles
        .iter()
        .map(|b| b + cycles::IDLE_CYCLES)
        .collect();
    assert_eq!(
        rtl, predicted,
        "RTL cycles per frame vs cycle model (stall {stall})"
    );
    if stall == 0.0 {
        // Back to back, the only cycles outside the frames are the input buffer's two arming
        // cycles after reset, the first frame's load, the registered FIFO room flag and the
        // last logit's way out of the FIFO: a constant, not a gap per frame.
        let extra = run.total_cycles - predicted.iter().sum::<u64>();
        assert!(
            extra <= 7 + frames[0].x.len() as u64,
            "{extra} cycles outside {} frames of {} elements",
            predicted.len(),
            frames[0].x.len()
        );
    }
    eprintln!(
        "busy cycles per frame: {:?}; logits[1] {:?}",
        run.busy_cycles,
        run.logits.get(1)
    );
}

fn tiny(pe: u32, lanes: u32, run_bits: u32) -> AccelConfig {
    let mut cfg = AccelConfig::preset("tiny-2pe").unwrap();
    cfg.pe_count = pe;
    cfg.nz_lanes = lanes;
    cfg.rle_run_bits = run_bits;
    cfg
}

#[test]
fn accel_matches_golden_tiny() {
    let mut spec = RandomSpec::new(vec![11, 7, 5, 3], 2, 5, 11);
    spec.theta = 1;
    spec.tau = 2;
    spec.change_prob = 0.3;
    // iCE40 (one Y RAM per PE, the MACs wait for the scan) and ECP5 (two alternating Y sets).
    check(&tiny(2, 2, 2), &spec, 0.0);
    let mut two_sets = tiny(2, 2, 2);
    two_sets.target = "ecp5-25k".into();
    assert!(!two_sets.one_y_ram());
    check(&two_sets, &spec, 0.0);
    check(&two_sets, &spec, 0.3);
    // iCE40 with two PEs per DSP block (dual 8x8 mode), the lane on the DSPs they leave.
    let mut paired = tiny(4, 2, 2);
    paired.max_dsp = 4;
    let hp = hw::hw_params(&paired);
    assert!(hp.pes_paired() && hp.rq_lanes_on_dsp() == 1, "{hp:?}");
    check(&paired, &spec, 0.3);
}

/// (pe, lanes, run_bits, widths, theta, tau, change_prob, stall)
type Case = (u32, u32, u32, &'static [usize], i32, i32, f64, f64);

#[test]
fn accel_matches_golden_matrix() {
    let cases: &[Case] = &[
        (1, 1, 1, &[9, 5, 1], 0, 0, 0.5, 0.0),
        (3, 3, 3, &[17, 10, 4], 0, 1, 0.2, 0.3),
        (3, 1, 2, &[8, 7, 6, 2], 2, 0, 0.4, 0.0),
        (4, 2, 1, &[30, 9, 5], 0, 3, 0.1, 0.3),
        (8, 4, 8, &[40, 20, 10], 1, 0, 0.2, 0.0),
        (2, 2, 4, &[1, 3, 2], 0, 0, 0.5, 0.3),
        // One lane, and runs of 7 bits cover every position (hidden scans of 66 with P = 3):
        // the compactor never stalls (`HwParams::compactor_never_stalls`).
        (3, 1, 7, &[17, 10, 4], 1, 0, 0.3, 0.3),
    ];
    for (i, &(pe, lanes, rb, widths, theta, tau, cp, stall)) in cases.iter().enumerate() {
        let mut spec = RandomSpec::new(widths.to_vec(), 2, 6, 100 + i as u64);
        spec.theta = theta;
        spec.tau = tau;
        spec.change_prob = cp;
        eprintln!("case {i}");
        check(&tiny(pe, lanes, rb), &spec, stall);
    }
}

/// Which configs get the stall-free compactor: one lane, and every position of the longest
/// vector (a layer input, or a hidden scan of whole Y chunks) within the run field.
#[test]
fn stall_free_compactor_where_no_run_splits() {
    let never = |c: &AccelConfig| hw::hw_params(c).compactor_never_stalls();
    assert!(never(&AccelConfig::preset("ice40-up5k-8pe").unwrap()));
    for p in ["ice40-up5k-4pe", "tiny-2pe", "ecp5-16pe"] {
        assert!(!never(&AccelConfig::preset(p).unwrap()), "{p}");
    }
    // tiny: max_in = max_out = 64. P = 3 scans 66 elements: 7 run bits, not 6.
    assert!(never(&tiny(3, 1, 7)));
    assert!(!never(&tiny(3, 1, 6)));
    assert!(never(&tiny(4, 1, 6)));
    assert!(!never(&tiny(4, 2, 8)));
}

/// The hardware presets themselves (their lanes, run widths and memory depths).
#[test]
fn accel_matches_golden_on_presets() {
    for (preset, widths) in [
        ("ice40-up5k-8pe", vec![40, 24, 10]),
        // A 64-wide hidden layer: the read-out and group counters at the preset's maximum.
        ("ice40-up5k-8pe", vec![40, 64, 4]),
        ("ecp5-16pe", vec![33, 20, 17, 4]),
    ] {
        let cfg = AccelConfig::preset(preset).unwrap();
        let mut spec = RandomSpec::new(widths, 2, 5, 21);
        spec.theta = 1;
        spec.change_prob = 0.2;
        eprintln!("{preset}");
        check(&cfg, &spec, 0.0);
        check(&cfg, &spec, 0.3);
    }
}
