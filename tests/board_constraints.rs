//! Every board's constraint file places exactly the ports of the generated board top, and states
//! the oscillator frequency the board table (and so the PLL setting) assumes.

use std::collections::BTreeSet;

use deltagen::board::BOARDS;
use deltagen::config::AccelConfig;
use deltagen::random::{generate, RandomSpec};
use deltagen_hdl::board::BoardConfig;
use deltagen_hdl::design::build_board_design;

/// The port list of `module deltagen_board(...)`.
fn top_ports() -> BTreeSet<String> {
    let cfg = AccelConfig::preset("tiny-2pe").unwrap();
    let (model, _) = generate(&RandomSpec::new(vec![4, 3], 1, 1, 1));
    let d = build_board_design(
        &deltagen::hw::hw_params(&cfg),
        &deltagen::hw::layer_specs(&model).unwrap(),
        &BoardConfig::simulation(8, 64),
    )
    .unwrap();
    let head = d
        .verilog
        .lines()
        .find(|l| l.starts_with("module deltagen_board("))
        .unwrap();
    head.trim_start_matches("module deltagen_board(")
        .trim_end_matches(");")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// (ports placed, oscillator MHz) of a constraint file.
fn placed(file: &str, text: &str) -> (BTreeSet<String>, f64) {
    let mut ports = BTreeSet::new();
    let mut mhz = 0.0;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if file.ends_with(".pcf") {
            match words.first() {
                Some(&"set_io") => {
                    ports.insert(words[words.len() - 2].to_string());
                }
                Some(&"set_frequency") => mhz = words[2].parse().unwrap(),
                _ => {}
            }
        } else if file.ends_with(".lpf") {
            if line.starts_with("LOCATE COMP") {
                ports.insert(words[2].trim_matches('"').to_string());
            }
            if line.starts_with("FREQUENCY PORT") {
                mhz = words[3].parse().unwrap();
            }
        } else {
            if line.starts_with("set_property") && line.contains("PACKAGE_PIN") {
                let p = line.split("get_ports {").nth(1).unwrap();
                ports.insert(p.split('}').next().unwrap().trim().to_string());
            }
            if line.starts_with("create_clock") {
                let period: f64 = line
                    .split("-period")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                mhz = 1000.0 / period;
            }
        }
    }
    (ports, mhz)
}

#[test]
fn constraint_files_match_the_board_top() {
    let ports = top_ports();
    assert_eq!(ports.len(), 6, "{ports:?}");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for b in BOARDS {
        let text = std::fs::read_to_string(root.join(b.constraints)).unwrap();
        let (got, mhz) = placed(b.constraints, &text);
        assert_eq!(got, ports, "{}", b.constraints);
        assert!(
            (mhz - b.clock_pin_mhz).abs() < 1e-9,
            "{}: oscillator {mhz} MHz, board table {}",
            b.constraints,
            b.clock_pin_mhz
        );
    }
}
