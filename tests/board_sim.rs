//! The board top `deltagen_board` in rust-hdl simulation: frames of a random model go in over
//! the serial line model, every logit that comes back is checked against the golden model.

use deltagen::config::AccelConfig;
use deltagen::random::{generate, RandomSpec};
use deltagen::{golden, hw};
use deltagen_hdl::board::board_top::DeltaBoard;
use deltagen_hdl::board::protocol::{self, Info};
use deltagen_hdl::board::sim::BoardSim;
use deltagen_hdl::board::BoardConfig;
use deltagen_hdl::params::build_image;

/// UART clock cycles per bit in the tests (the fastest the receiver takes).
const DIVISOR: u32 = 4;

fn check(cfg: &AccelConfig, spec: &RandomSpec) {
    let (model, inputs) = generate(spec);
    let params = hw::hw_params(cfg);
    let image = build_image(&params, &hw::layer_specs(&model).unwrap()).unwrap();
    let board_cfg = BoardConfig::simulation(DIVISOR, cfg.max_in as usize);
    let top = DeltaBoard::new(&params, &image, "", &board_cfg).unwrap();
    let mut b = BoardSim::new(top, DIVISOR).unwrap();
    let (n_in, n_out) = (model.input_size(), model.output_size());

    b.send(&[protocol::CMD_INFO]);
    let r = b.receive(1 + protocol::INFO_LEN, 10_000).unwrap();
    assert_eq!(r[0], protocol::REPLY_INFO);
    let info = Info::parse(r[1..].try_into().unwrap());
    assert_eq!(
        (info.n_in as usize, info.n_out as usize, info.lanes as u32),
        (n_in, n_out, cfg.nz_lanes)
    );

    let mut frames = Vec::new();
    let mut expect = Vec::new();
    for (s, seq) in inputs.frames.outer_iter().enumerate() {
        let outs = golden::run_sequence(&model, seq.view(), s).unwrap();
        for (t, x) in seq.outer_iter().enumerate() {
            frames.push(protocol::frame_bytes(t == 0, &x.to_vec()));
            expect.push(outs[t].logits.clone());
        }
    }
    // Window of two frames in flight, as the host sends them.
    let reply_len = protocol::logits_reply_len(n_out);
    let per_frame = 10 * u64::from(DIVISOR) * (n_in + 1 + reply_len) as u64 + 5000;
    let mut sent = 0;
    for (f, want) in expect.iter().enumerate() {
        while sent < frames.len() && sent < f + protocol::WINDOW {
            b.send(&frames[sent]);
            sent += 1;
        }
        let r = b.receive(reply_len, per_frame).unwrap();
        assert_eq!(r[0], protocol::REPLY_LOGITS, "frame {f}");
        let (logits, status) = protocol::parse_logits(&r[1..]);
        assert_eq!(status, 0, "frame {f}: {}", protocol::status_text(status));
        assert_eq!(&logits, want, "frame {f} logits");
    }
    // Nothing more comes.
    for _ in 0..2000 {
        assert_eq!(b.step().unwrap(), None);
    }
    assert_eq!(b.framing_errors, 0);
    assert!(!b.sim.uut.led_error.val());
    eprintln!(
        "{} frames, {} cycles ({} per frame)",
        frames.len(),
        b.sim.cycles,
        b.sim.cycles / frames.len() as u64
    );
}

#[test]
fn board_matches_golden_tiny_16_8_3() {
    let cfg = AccelConfig::preset("tiny-2pe").unwrap();
    let mut spec = RandomSpec::new(vec![16, 8, 3], 3, 5, 41);
    spec.theta = 1;
    spec.change_prob = 0.3;
    check(&cfg, &spec);
}

/// Two lanes, a partial last beat (21 inputs), three layers.
#[test]
fn board_matches_golden_ice40_preset() {
    let cfg = AccelConfig::preset("ice40-up5k-4pe").unwrap();
    let mut spec = RandomSpec::new(vec![21, 12, 9, 4], 2, 4, 43);
    spec.tau = 2;
    spec.change_prob = 0.2;
    check(&cfg, &spec);
}
