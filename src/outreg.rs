//! ECP5 block RAM output registers, recovered after synthesis.
//!
//! nextpnr gives a DP16KD read port without its output register a 5.83 ns clock-to-out (speed
//! grade 6), most of a 150 MHz cycle before any routing. The port's own output register
//! (`REGMODE = "OUTREG"`) removes that, but Yosys 0.70's memory mapping
//! (`techlibs/lattice/brams_16kd.txt`) has no option for it: a flip-flop the RTL puts right
//! after a read stays in the fabric. This pass moves such flip-flops into the block RAM.
//!
//! A read port qualifies when every data bit it uses drives exactly one flip-flop input, and
//! those flip-flops share the port's clock (not inverted), one clock enable (or none), have no
//! set/reset and power up at zero. The port then gets `REGMODE = "OUTREG"`, its output clock
//! enable `OCE` takes the flip-flops' enable, its data pins drive the flip-flops' outputs
//! directly, and the flip-flops go. The port's read enable (`CE`) still gates the array read,
//! so the pair behaves as the RTL's two registers: read word when `CE`, output register when
//! `OCE` (Lattice TN1264, sysMEM output register). Everything else is left alone.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use serde_json::Value;

/// What the pass changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Absorbed {
    /// Read ports switched to `REGMODE = "OUTREG"`.
    pub ports: usize,
    /// Fabric flip-flops removed (now inside those ports).
    pub ffs: usize,
}

/// A net bit: Yosys writes nets as integers and constants as strings ("0", "1", "x").
fn bit_str(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}"),
        _ => String::new(),
    }
}

fn param<'a>(cell: &'a Value, name: &str) -> &'a str {
    cell["parameters"][name].as_str().unwrap_or("").trim()
}

fn conn(cell: &Value, port: &str) -> Option<Value> {
    cell["connections"][port]
        .as_array()
        .and_then(|a| (a.len() == 1).then(|| a[0].clone()))
}

/// Applies the pass to the module `top` of a Yosys JSON netlist (flattened, ECP5 cells).
pub fn absorb_bram_output_registers(netlist: &mut Value, top: &str) -> Result<Absorbed> {
    let module = netlist["modules"]
        .get_mut(top)
        .ok_or_else(|| anyhow!("no module {top} in the netlist"))?;
    // Sinks of every net bit: cell input pins, plus the module's output ports (a bit that leaves
    // the module is never rewired).
    let mut sinks: HashMap<String, Vec<(String, String)>> = HashMap::new();
    if let Some(ports) = module["ports"].as_object() {
        for (name, p) in ports {
            if p["direction"] != "input" {
                for b in p["bits"].as_array().into_iter().flatten() {
                    sinks
                        .entry(bit_str(b))
                        .or_default()
                        .push(("$port".into(), name.clone()));
                }
            }
        }
    }
    let cells = module["cells"]
        .as_object()
        .ok_or_else(|| anyhow!("module {top} has no cells"))?;
    for (name, c) in cells {
        let dirs = &c["port_directions"];
        for (pin, bits) in c["connections"].as_object().into_iter().flatten() {
            if dirs[pin] != "output" {
                for b in bits.as_array().into_iter().flatten() {
                    sinks
                        .entry(bit_str(b))
                        .or_default()
                        .push((name.clone(), pin.clone()));
                }
            }
        }
    }

    // Plan first (read-only), then edit.
    struct Plan {
        bram: String,
        port: char,
        oce: Value,
        /// (data pin, flip-flop cell, its Q bit)
        moves: Vec<(String, String, Value)>,
    }
    let mut plans = Vec::new();
    let mut names: Vec<&String> = cells.keys().collect();
    names.sort();
    for name in names {
        let c = &cells[name];
        if c["type"] != "DP16KD" {
            continue;
        }
        'port: for port in ['A', 'B'] {
            if param(c, &format!("REGMODE_{port}")) != "NOREG" {
                continue;
            }
            let (Some(clk), Some(rst)) = (
                conn(c, &format!("CLK{port}")),
                conn(c, &format!("RST{port}")),
            ) else {
                continue;
            };
            if rst != "0" || param(c, &format!("CLK{port}MUX")).starts_with("INV") {
                continue;
            }
            let mut oce: Option<Value> = None;
            let mut moves = Vec::new();
            let prefix = format!("DO{port}");
            let mut pins: Vec<&String> = c["connections"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(p, _)| p)
                .filter(|p| {
                    p.strip_prefix(&prefix)
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .collect();
            pins.sort();
            for pin in pins {
                let Some(bit) = conn(c, pin) else {
                    continue 'port;
                };
                let Some(s) = sinks.get(&bit_str(&bit)) else {
                    continue; // unused data bit
                };
                let [(ff, ffpin)] = s.as_slice() else {
                    continue 'port;
                };
                let f = &cells[ff];
                let ok = ff != "$port"
                    && f["type"] == "TRELLIS_FF"
                    && ffpin == "DI"
                    && conn(f, "CLK").as_ref() == Some(&clk)
                    && param(f, "CLKMUX") == "CLK"
                    && param(f, "REGSET") == "RESET"
                    && (conn(f, "LSR").is_none_or(|l| l == "0") || param(f, "LSRMUX") == "0");
                if !ok {
                    continue 'port;
                }
                let ce = match param(f, "CEMUX") {
                    "1" => Value::String("1".into()),
                    "CE" => match conn(f, "CE") {
                        Some(ce) => ce,
                        None => continue 'port,
                    },
                    _ => continue 'port,
                };
                match &oce {
                    None => oce = Some(ce),
                    Some(o) if *o == ce => {}
                    Some(_) => continue 'port,
                }
                let Some(q) = conn(f, "Q") else {
                    continue 'port;
                };
                moves.push((pin.clone(), ff.clone(), q));
            }
            if let (Some(oce), false) = (oce, moves.is_empty()) {
                plans.push(Plan {
                    bram: name.clone(),
                    port,
                    oce,
                    moves,
                });
            }
        }
    }

    let cells = module["cells"]
        .as_object_mut()
        .ok_or_else(|| anyhow!("module {top} has no cells"))?;
    let mut done = Absorbed::default();
    for p in plans {
        for (_, ff, _) in &p.moves {
            cells.remove(ff);
        }
        let b = cells
            .get_mut(&p.bram)
            .ok_or_else(|| anyhow!("cell {} vanished", p.bram))?;
        b["parameters"][format!("REGMODE_{}", p.port)] = Value::String("OUTREG".into());
        b["connections"][format!("OCE{}", p.port)] = Value::Array(vec![p.oce]);
        for (pin, _, q) in &p.moves {
            b["connections"][pin] = Value::Array(vec![q.clone()]);
        }
        done.ports += 1;
        done.ffs += p.moves.len();
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ff(d: u64, q: u64, ce: Option<u64>, clk: u64) -> Value {
        let mut c = json!({
            "type": "TRELLIS_FF",
            "parameters": {"CEMUX": "1 ", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET"},
            "port_directions": {"CLK": "input", "LSR": "input", "CE": "input", "DI": "input", "Q": "output"},
            "connections": {"CLK": [clk], "LSR": ["0"], "DI": [d], "Q": [q]}
        });
        if let Some(ce) = ce {
            c["parameters"]["CEMUX"] = json!("CE");
            c["connections"]["CE"] = json!([ce]);
        }
        c
    }

    /// Two DP16KD ports: one whose two used bits feed enabled flip-flops (absorbed), one whose
    /// bit also feeds a LUT (left alone).
    fn netlist() -> Value {
        let bram = |doa: [u64; 2], dob: [u64; 2]| {
            json!({
                "type": "DP16KD",
                "parameters": {"REGMODE_A": "NOREG", "REGMODE_B": "NOREG"},
                "port_directions": {"CLKA": "input", "CLKB": "input", "RSTA": "input", "RSTB": "input",
                    "OCEA": "input", "OCEB": "input", "DOA0": "output", "DOA1": "output",
                    "DOA2": "output", "DOB0": "output", "DOB1": "output"},
                "connections": {"CLKA": [2], "CLKB": [2], "RSTA": ["0"], "RSTB": ["0"],
                    "OCEA": ["1"], "OCEB": ["1"], "DOA0": [doa[0]], "DOA1": [doa[1]], "DOA2": [99],
                    "DOB0": [dob[0]], "DOB1": [dob[1]]}
            })
        };
        json!({"modules": {"top": {
            "ports": {"o": {"direction": "output", "bits": [20]}},
            "cells": {
                "ram": bram([10, 11], [12, 13]),
                "fa0": ff(10, 30, Some(5), 2),
                "fa1": ff(11, 31, Some(5), 2),
                "fb0": ff(12, 32, None, 2),
                "fb1": ff(13, 33, None, 2),
                "lut": {"type": "LUT4", "parameters": {},
                    "port_directions": {"A": "input", "Z": "output"},
                    "connections": {"A": [13], "Z": [20]}}
            }
        }}})
    }

    #[test]
    fn absorbs_a_clean_port_only() {
        let mut n = netlist();
        let a = absorb_bram_output_registers(&mut n, "top").unwrap();
        assert_eq!(a, Absorbed { ports: 1, ffs: 2 });
        let cells = &n["modules"]["top"]["cells"];
        let ram = &cells["ram"];
        assert_eq!(ram["parameters"]["REGMODE_A"], "OUTREG");
        assert_eq!(ram["connections"]["OCEA"], json!([5]));
        assert_eq!(ram["connections"]["DOA0"], json!([30]));
        assert_eq!(ram["connections"]["DOA1"], json!([31]));
        assert_eq!(ram["connections"]["DOA2"], json!([99]));
        assert!(cells.get("fa0").is_none() && cells.get("fa1").is_none());
        // Port B: bit 13 also feeds a LUT.
        assert_eq!(ram["parameters"]["REGMODE_B"], "NOREG");
        assert!(cells.get("fb0").is_some() && cells.get("fb1").is_some());
    }

    #[test]
    fn other_clock_mixed_enables_or_reset_block_it() {
        for edit in 0..3 {
            let mut n = netlist();
            let c = &mut n["modules"]["top"]["cells"];
            match edit {
                0 => c["fa1"]["connections"]["CLK"] = json!([3]),
                1 => c["fa1"]["connections"]["CE"] = json!([6]),
                _ => c["fa1"]["parameters"]["REGSET"] = json!("SET"),
            }
            let a = absorb_bram_output_registers(&mut n, "top").unwrap();
            assert_eq!(a, Absorbed::default(), "edit {edit}");
            assert_eq!(
                n["modules"]["top"]["cells"]["ram"]["parameters"]["REGMODE_A"],
                "NOREG"
            );
        }
    }
}
