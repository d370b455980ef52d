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

use std::collections::{BTreeSet, HashMap};

use anyhow::{anyhow, Result};
use serde::Serialize;
use serde_json::Value;

/// What the pass changed (synth.json's `bram_output_registers`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Absorbed {
    /// Read ports switched to `REGMODE = "OUTREG"`.
    pub ports: usize,
    /// Fabric flip-flops removed (now inside those ports).
    #[serde(rename = "ffs_absorbed")]
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

/// Who drives and who reads every net bit of a module.
struct Nets {
    /// Bit → the cell whose output pin drives it.
    drivers: HashMap<String, String>,
    /// Bit → (cell, input pin) reading it, and ("$port", name) for a module output port (a bit
    /// that leaves the module is never rewired).
    sinks: HashMap<String, Vec<(String, String)>>,
}

fn nets(module: &Value) -> Nets {
    let mut n = Nets {
        drivers: HashMap::new(),
        sinks: HashMap::new(),
    };
    for (name, p) in module["ports"].as_object().into_iter().flatten() {
        for b in p["bits"].as_array().into_iter().flatten() {
            if p["direction"] != "input" {
                n.sinks
                    .entry(bit_str(b))
                    .or_default()
                    .push(("$port".into(), name.clone()));
            }
        }
    }
    for (name, c) in module["cells"].as_object().into_iter().flatten() {
        let dirs = &c["port_directions"];
        for (pin, bits) in c["connections"].as_object().into_iter().flatten() {
            for b in bits.as_array().into_iter().flatten() {
                if dirs[pin] == "output" {
                    n.drivers.insert(bit_str(b), name.clone());
                } else {
                    n.sinks
                        .entry(bit_str(b))
                        .or_default()
                        .push((name.clone(), pin.clone()));
                }
            }
        }
    }
    n
}

/// The module `top` of a Yosys JSON netlist and its cells.
fn module_of<'a>(netlist: &'a mut Value, top: &str) -> Result<&'a mut Value> {
    let module = netlist["modules"]
        .get_mut(top)
        .ok_or_else(|| anyhow!("no module {top} in the netlist"))?;
    if !module["cells"].is_object() {
        return Err(anyhow!("module {top} has no cells"));
    }
    Ok(module)
}

fn cells_mut(module: &mut Value) -> &mut serde_json::Map<String, Value> {
    module["cells"]
        .as_object_mut()
        .expect("module_of checked the cells")
}

/// Cells of one type in name order (the passes' edits do not depend on the map's order).
fn cells_of_type<'a>(module: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    let mut v: Vec<(&String, &Value)> = module["cells"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c["type"] == ty)
        .collect();
    v.sort_by_key(|(n, _)| *n);
    v
}

/// Applies the pass to the module `top` of a Yosys JSON netlist (flattened, ECP5 cells).
pub fn absorb_bram_output_registers(netlist: &mut Value, top: &str) -> Result<Absorbed> {
    let module = module_of(netlist, top)?;
    let Nets { sinks, .. } = nets(module);
    let cells = &module["cells"];

    // Plan first (read-only), then edit.
    struct Plan {
        bram: String,
        port: char,
        oce: Value,
        /// (data pin, flip-flop cell, its Q bit)
        moves: Vec<(String, String, Value)>,
    }
    let mut plans = Vec::new();
    for (name, c) in cells_of_type(module, "DP16KD") {
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
                let Some(f) = cells.get(ff).filter(|_| ffpin == "DI") else {
                    continue 'port; // a module port or another cell's pin
                };
                let Some((_, ce)) = plain_ff(f).filter(|(c, _)| *c == clk) else {
                    continue 'port;
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

    let cells = cells_mut(module);
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

/// What the DSP pass changed (synth.json's `dsp_registers`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DspAbsorbed {
    /// Multipliers that took at least one register.
    pub mults: usize,
    /// Input registers (A or B) switched on.
    pub input_regs: usize,
    /// Output registers switched on.
    pub output_regs: usize,
    /// Fabric flip-flops removed (an input flip-flop that also drives other logic stays: the
    /// multiplier then holds a copy of it).
    #[serde(rename = "ffs_absorbed")]
    pub ffs: usize,
}

/// A TRELLIS_FF that a DSP register can replace: rising edge, no set/reset, power-up zero.
/// Returns (clock, clock enable or "1").
fn plain_ff(f: &Value) -> Option<(Value, Value)> {
    let ok = f["type"] == "TRELLIS_FF"
        && param(f, "CLKMUX") == "CLK"
        && param(f, "REGSET") == "RESET"
        && (conn(f, "LSR").is_none_or(|l| l == "0") || param(f, "LSRMUX") == "0");
    if !ok {
        return None;
    }
    let ce = match param(f, "CEMUX") {
        "1" => Value::String("1".into()),
        "CE" => conn(f, "CE")?,
        _ => return None,
    };
    Some((conn(f, "CLK")?, ce))
}

/// A multiplier register to switch on.
struct Reg {
    /// INPUTA, INPUTB or OUTPUT.
    name: &'static str,
    enable: Value,
    /// (pin, its new net)
    rewires: Vec<(String, Value)>,
    /// Flip-flops to remove once nothing else reads them.
    ffs: Vec<String>,
}

/// Plain flip-flops on a group of pins that share one clock and one enable.
struct FfGroup {
    clk: Value,
    enable: Value,
    rewires: Vec<(String, Value)>,
    ffs: Vec<String>,
}

impl FfGroup {
    fn into_reg(self, name: &'static str) -> Reg {
        Reg {
            name,
            enable: self.enable,
            rewires: self.rewires,
            ffs: self.ffs,
        }
    }
}

/// The flip-flops of `pins`: `find(pin)` names the pin's flip-flop and the pin's new net, or
/// says the pin needs none (`Some(None)`) or that the group cannot be a register (`None`).
/// Every flip-flop must be plain (`plain_ff`) and all must share the clock and the enable.
fn ff_group(
    cells: &Value,
    pins: Vec<String>,
    mut find: impl FnMut(&str) -> Option<Option<(String, Value)>>,
) -> Option<FfGroup> {
    let mut shared: Option<(Value, Value)> = None;
    let (mut rewires, mut ffs) = (Vec::new(), Vec::new());
    for pin in pins {
        let Some((ff, net)) = find(&pin)? else {
            continue;
        };
        let cc = plain_ff(&cells[&ff])?;
        if *shared.get_or_insert_with(|| cc.clone()) != cc {
            return None;
        }
        rewires.push((pin, net));
        ffs.push(ff);
    }
    let (clk, enable) = shared?;
    Some(FfGroup {
        clk,
        enable,
        rewires,
        ffs,
    })
}

/// ECP5 multiplier registers, recovered after synthesis.
///
/// Yosys 0.70 maps a product to a MULT18X18D with every register off (`REG_*_CLK = "NONE"`),
/// leaving the RTL's input and output flip-flops in the fabric; nextpnr then times the
/// multiplier as one combinational path of ~4 ns between them plus the routing to and from the
/// block. This pass moves them in:
/// - input A (B): when every non-constant A (B) pin is driven by a plain flip-flop (see
///   `plain_ff`) and those share a clock and an enable, the register takes their D nets; a
///   flip-flop left without other loads goes.
/// - output: when every used P pin drives exactly one plain flip-flop's D, with a shared clock
///   and enable, the register takes their place and the flip-flops go.
///
/// All the registers of one multiplier must share the clock (`CLK0`); up to four enables go on
/// `CE0..CE3`; `RST0` is tied low. A register with enable `ce` loads on the clock edges where
/// `ce` is high, as the flip-flops did, so the netlist's cycle behaviour is unchanged.
pub fn absorb_dsp_registers(netlist: &mut Value, top: &str) -> Result<DspAbsorbed> {
    let module = module_of(netlist, top)?;
    let cells = &module["cells"];
    let Nets { drivers, sinks } = nets(module);

    struct Plan {
        dsp: String,
        clk: Value,
        regs: Vec<Reg>,
    }
    let numbered = |c: &Value, prefix: &str| -> Vec<String> {
        let mut pins: Vec<String> = c["connections"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(p, _)| p.clone())
            .filter(|p| {
                p.strip_prefix(prefix)
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .collect();
        pins.sort();
        pins
    };
    let mut plans = Vec::new();
    for (name, c) in cells_of_type(module, "MULT18X18D") {
        let off = |p: &str| matches!(param(c, p), "" | "NONE");
        if !(off("REG_INPUTA_CLK") && off("REG_INPUTB_CLK") && off("REG_OUTPUT_CLK")) {
            continue;
        }
        let mut clk: Option<Value> = None;
        let mut regs = Vec::new();
        // Inputs: the flip-flop driving each non-constant pin; the pin takes its D net.
        for (reg, prefix) in [("INPUTA", "A"), ("INPUTB", "B")] {
            let group = ff_group(cells, numbered(c, prefix), |pin| {
                let bit = conn(c, pin)?;
                if bit.is_string() {
                    return Some(None); // constant
                }
                let ff = drivers.get(&bit_str(&bit))?;
                let d = conn(&cells[ff], "DI")?;
                // A flip-flop after another multiplier may become that one's output register.
                let after_mult = drivers
                    .get(&bit_str(&d))
                    .is_some_and(|dr| cells[dr]["type"] == "MULT18X18D");
                (!after_mult).then(|| Some((ff.clone(), d)))
            });
            if let Some(g) = group.filter(|g| *clk.get_or_insert_with(|| g.clk.clone()) == g.clk) {
                regs.push(g.into_reg(reg));
            }
        }
        // Output: each used product bit into exactly one flip-flop's D; the pin takes its Q net.
        let group = ff_group(cells, numbered(c, "P"), |pin| {
            let bit = conn(c, pin)?;
            let Some(s) = sinks.get(&bit_str(&bit)) else {
                return Some(None); // unused product bit
            };
            let [(ff, ffpin)] = s.as_slice() else {
                return None;
            };
            // Not a module port or another cell's pin.
            let f = cells.get(ff).filter(|_| ffpin == "DI")?;
            Some(Some((ff.clone(), conn(f, "Q")?)))
        });
        if let Some(g) = group.filter(|g| *clk.get_or_insert_with(|| g.clk.clone()) == g.clk) {
            regs.push(g.into_reg("OUTPUT"));
        }
        if let (Some(clk), false) = (clk, regs.is_empty()) {
            plans.push(Plan {
                dsp: name.clone(),
                clk,
                regs,
            });
        }
    }

    let cells = cells_mut(module);
    let mut done = DspAbsorbed::default();
    // Output flip-flops go (their Q nets are now driven by the multiplier); input flip-flops
    // go once nothing but flip-flops that go themselves reads them.
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for p in plans {
        let d = cells
            .get_mut(&p.dsp)
            .ok_or_else(|| anyhow!("cell {} vanished", p.dsp))?;
        let mut enables: Vec<Value> = Vec::new();
        for Reg {
            name: reg,
            enable: ce,
            rewires,
            ffs,
        } in p.regs
        {
            let k = match enables.iter().position(|e| *e == ce) {
                Some(k) => k,
                None if enables.len() < 4 => {
                    enables.push(ce);
                    enables.len() - 1
                }
                None => continue,
            };
            d["parameters"][format!("REG_{reg}_CLK")] = Value::String("CLK0".into());
            d["parameters"][format!("REG_{reg}_CE")] = Value::String(format!("CE{k}"));
            d["parameters"][format!("REG_{reg}_RST")] = Value::String("RST0".into());
            for (pin, net) in rewires {
                d["connections"][pin] = Value::Array(vec![net]);
            }
            if reg == "OUTPUT" {
                done.output_regs += 1;
                replaced.extend(ffs);
            } else {
                done.input_regs += 1;
                candidates.extend(ffs);
            }
        }
        let pins = [("CLK0", p.clk), ("RST0", Value::String("0".into()))];
        for (pin, net) in pins
            .into_iter()
            .chain(enables.into_iter().enumerate().map(|(k, e)| {
                // CE pins are indexed by position.
                (["CE0", "CE1", "CE2", "CE3"][k], e)
            }))
        {
            d["connections"][pin] = Value::Array(vec![net]);
            d["port_directions"][pin] = Value::String("input".into());
        }
        done.mults += 1;
    }
    let after = nets(module);
    let unread = |ff: &String| {
        let q = conn(&module["cells"][ff], "Q").map(|q| bit_str(&q));
        q.and_then(|q| after.sinks.get(&q)).is_none_or(|s| {
            s.iter()
                .all(|(c, _)| candidates.contains(c) || replaced.contains(c))
        })
    };
    let gone: Vec<String> = candidates
        .iter()
        .filter(|ff| !replaced.contains(*ff) && unread(ff))
        .chain(&replaced)
        .cloned()
        .collect();
    let cells = cells_mut(module);
    for ff in gone {
        if cells.remove(&ff).is_some() {
            done.ffs += 1;
        }
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

    /// A multiplier between flip-flops: a0/a1 (enable 5) on A, b0 (no enable) on B, p0/p1
    /// into flip-flops (enable 6); a1's Q also feeds a LUT, so it stays as a copy.
    fn dsp_netlist() -> Value {
        json!({"modules": {"top": {
            "ports": {"o": {"direction": "output", "bits": [20]}},
            "cells": {
                "mul": {"type": "MULT18X18D", "parameters": {},
                    "port_directions": {"A0": "input", "A1": "input", "A2": "input", "B0": "input",
                        "P0": "output", "P1": "output", "P2": "output"},
                    "connections": {"A0": [40], "A1": [41], "A2": ["0"], "B0": [42],
                        "P0": [50], "P1": [51], "P2": [52]}},
                "a0": ff(30, 40, Some(5), 2),
                "a1": ff(31, 41, Some(5), 2),
                "b0": ff(32, 42, None, 2),
                "p0": ff(50, 60, Some(6), 2),
                "p1": ff(51, 61, Some(6), 2),
                "lut": {"type": "LUT4", "parameters": {},
                    "port_directions": {"A": "input", "B": "input", "C": "input", "Z": "output"},
                    "connections": {"A": [41], "B": [60], "C": [61], "Z": [20]}}
            }
        }}})
    }

    #[test]
    fn multiplier_takes_its_input_and_output_registers() {
        let mut n = dsp_netlist();
        let d = absorb_dsp_registers(&mut n, "top").unwrap();
        assert_eq!(
            d,
            DspAbsorbed {
                mults: 1,
                input_regs: 2,
                output_regs: 1,
                ffs: 4
            }
        );
        let cells = &n["modules"]["top"]["cells"];
        let m = &cells["mul"];
        for reg in ["INPUTA", "INPUTB", "OUTPUT"] {
            assert_eq!(m["parameters"][format!("REG_{reg}_CLK")], "CLK0", "{reg}");
        }
        // Enables in order of appearance: A's (5), B's (constant 1), the output's (6).
        assert_eq!(m["parameters"]["REG_INPUTA_CE"], "CE0");
        assert_eq!(m["parameters"]["REG_INPUTB_CE"], "CE1");
        assert_eq!(m["parameters"]["REG_OUTPUT_CE"], "CE2");
        assert_eq!(m["connections"]["CE0"], json!([5]));
        assert_eq!(m["connections"]["CE1"], json!(["1"]));
        assert_eq!(m["connections"]["CE2"], json!([6]));
        assert_eq!(m["connections"]["CLK0"], json!([2]));
        assert_eq!(m["connections"]["RST0"], json!(["0"]));
        assert_eq!(m["port_directions"]["CE2"], "input");
        // Inputs take the flip-flops' D nets, the constant stays; outputs drive their Q nets.
        assert_eq!(m["connections"]["A0"], json!([30]));
        assert_eq!(m["connections"]["A1"], json!([31]));
        assert_eq!(m["connections"]["A2"], json!(["0"]));
        assert_eq!(m["connections"]["B0"], json!([32]));
        assert_eq!(m["connections"]["P0"], json!([60]));
        assert_eq!(m["connections"]["P1"], json!([61]));
        // a1 still feeds the LUT; the others are gone.
        assert!(cells.get("a1").is_some());
        for gone in ["a0", "b0", "p0", "p1"] {
            assert!(cells.get(gone).is_none(), "{gone}");
        }
    }

    #[test]
    fn multiplier_registers_need_one_clock_one_enable_and_plain_flip_flops() {
        // (edit, input A absorbed, output absorbed)
        type Edit = fn(&mut Value);
        let cases: [(Edit, bool, bool); 4] = [
            (|c| c["a1"]["connections"]["CE"] = json!([7]), false, true),
            (
                |c| c["p1"]["parameters"]["REGSET"] = json!("SET"),
                true,
                false,
            ),
            // A product bit that also feeds logic keeps the output register off.
            (|c| c["lut"]["connections"]["B"] = json!([50]), true, false),
            // An output flip-flop on another clock: the output register would need CLK1.
            (
                |c| {
                    c["p0"]["connections"]["CLK"] = json!([3]);
                    c["p1"]["connections"]["CLK"] = json!([3]);
                },
                true,
                false,
            ),
        ];
        for (k, (edit, a, p)) in cases.into_iter().enumerate() {
            let mut n = dsp_netlist();
            edit(&mut n["modules"]["top"]["cells"]);
            absorb_dsp_registers(&mut n, "top").unwrap();
            let m = &n["modules"]["top"]["cells"]["mul"];
            let on = |r: &str| m["parameters"][format!("REG_{r}_CLK")] == "CLK0";
            assert_eq!((on("INPUTA"), on("OUTPUT")), (a, p), "case {k}");
            assert!(on("INPUTB"), "case {k}");
            if !p {
                assert!(n["modules"]["top"]["cells"].get("p0").is_some(), "case {k}");
                assert_eq!(m["connections"]["P0"], json!([50]), "case {k}");
            }
        }
    }

    /// A read bit or a product bit that leaves the module is never rewired (and is no panic).
    #[test]
    fn bits_on_module_ports_stay() {
        let mut n = netlist();
        n["modules"]["top"]["ports"]["o"]["bits"] = json!([10]);
        absorb_bram_output_registers(&mut n, "top").unwrap();
        assert_eq!(
            n["modules"]["top"]["cells"]["ram"]["parameters"]["REGMODE_A"],
            "NOREG"
        );
        let mut n = dsp_netlist();
        n["modules"]["top"]["ports"]["o"]["bits"] = json!([51]);
        absorb_dsp_registers(&mut n, "top").unwrap();
        let m = &n["modules"]["top"]["cells"]["mul"];
        assert!(m["parameters"].get("REG_OUTPUT_CLK").is_none());
        assert_eq!(m["connections"]["P1"], json!([51]));
    }
}
