//! Runs the open-source tools on generated Verilog: Yosys (read + hierarchy + proc, the checks
//! of rust-hdl's `yosys_validate`), Verilator lint and Icarus Verilog.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Lint waivers for the generated Verilog; every line says why.
pub const VERILATOR_WAIVERS: &str = include_str!("../verilator_waivers.vlt");

/// Writes `verilog` as `top.v` and the given extra files (hex memories) into `dir`.
pub fn write_design(
    dir: &Path,
    verilog: &str,
    files: &[(String, String)],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let top = dir.join("top.v");
    std::fs::write(&top, verilog)?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text)?;
    }
    std::fs::write(dir.join("verilator_waivers.vlt"), VERILATOR_WAIVERS)?;
    Ok(top)
}

fn run(dir: &Path, prog: &str, args: &[&str]) -> Result<(String, String, bool), String> {
    let out = Command::new(prog)
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {prog} (install it with tools/setup.sh): {e}"))?;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    ))
}

/// Yosys reads the design and elaborates `top_name` with the checks rust-hdl's `yosys_validate`
/// applies (no latch, no implicit net, no undriven wire, no missing module).
pub fn yosys_check(dir: &Path, file: &str, top_name: &str) -> Result<(), String> {
    // A PE pair's DSP block (`Mac8x2`) is an SB_MAC16 instance under SYNTHESIS: elaborate it
    // against Yosys' own cell library.
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
    let lib = if text.contains("SB_MAC16 #(") {
        "read_verilog -lib +/ice40/cells_sim.v; "
    } else {
        ""
    };
    let script = format!("{lib}read -vlog95 {file}; hierarchy -check -top {top_name}; proc");
    let (stdout, stderr, ok) = run(dir, "yosys", &["-p", &script])?;
    for bad in [
        "Re-definition of",
        "implicitly declared",
        "Latch inferred for",
        "is used but has no driver",
        "is not part of the design",
        "ERROR",
    ] {
        if stdout.contains(bad) || stderr.contains(bad) {
            let line = stdout
                .lines()
                .chain(stderr.lines())
                .find(|l| l.contains(bad))
                .unwrap_or(bad);
            return Err(format!("yosys: {line}"));
        }
    }
    if !ok {
        return Err(format!("yosys failed: {stderr}"));
    }
    Ok(())
}

/// `verilator --lint-only -Wall` with the waiver file; returns the warnings on failure.
pub fn verilator_lint(dir: &Path, file: &str, top_name: &str) -> Result<(), String> {
    let (stdout, stderr, ok) = run(
        dir,
        "verilator",
        &[
            "--lint-only",
            "-Wall",
            "--top-module",
            top_name,
            "verilator_waivers.vlt",
            file,
        ],
    )?;
    if !ok || stderr.contains("%Warning") || stderr.contains("%Error") {
        return Err(format!("verilator lint:\n{stdout}{stderr}"));
    }
    Ok(())
}

/// Icarus Verilog (`iverilog -g2012`) compiles the design.
pub fn iverilog_check(dir: &Path, file: &str, top_name: &str) -> Result<(), String> {
    let (stdout, stderr, ok) = run(
        dir,
        "iverilog",
        &["-g2012", "-s", top_name, "-o", "/dev/null", file],
    )?;
    if !ok || stderr.contains("error") {
        return Err(format!("iverilog:\n{stdout}{stderr}"));
    }
    Ok(())
}

/// Runs a testbench `tb` (module `tb`) against `dut` in Icarus Verilog and returns every line it
/// `$display`s that parses as a hex number (test helper for blocks checked in Icarus).
pub fn icarus_hex_lines(dut: &str, tb: &str) -> Result<Vec<u64>, String> {
    let tmp = std::env::temp_dir().join(format!(
        "deltagen_icarus_{}_{}",
        std::process::id(),
        ICARUS_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let result = (|| {
        std::fs::write(tmp.join("dut.v"), dut).map_err(|e| e.to_string())?;
        std::fs::write(tmp.join("tb.v"), tb).map_err(|e| e.to_string())?;
        let st = std::process::Command::new("iverilog")
            .current_dir(&tmp)
            .args(["-g2012", "-o", "sim", "tb.v", "dut.v"])
            .output()
            .map_err(|e| format!("iverilog: {e} (install it with tools/setup.sh)"))?;
        if !st.status.success() {
            return Err(format!(
                "iverilog failed: {}",
                String::from_utf8_lossy(&st.stderr)
            ));
        }
        let out = std::process::Command::new("vvp")
            .current_dir(&tmp)
            .arg("sim")
            .output()
            .map_err(|e| format!("vvp: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| u64::from_str_radix(l.trim(), 16).ok())
            .collect())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

static ICARUS_RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Yosys' simulation models of the iCE40 cells (`cells_sim.v`: Yosys' data directory sits
/// beside its binary, `bin/../share/yosys`).
pub fn ice40_cells_sim() -> Result<PathBuf, String> {
    let yosys = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("yosys"))
                .find(|f| f.is_file())
        })
        .ok_or("yosys not on PATH (install it with tools/setup.sh)")?;
    yosys
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("share/yosys/ice40/cells_sim.v"))
        .ok_or_else(|| format!("no data directory beside {}", yosys.display()))
}

/// Yosys' simulation model of the iCE40 SB_MAC16, the module alone: the file's other cells use
/// syntax Icarus rejects.
#[cfg(test)]
pub fn sb_mac16_sim_model() -> String {
    let model = ice40_cells_sim().unwrap();
    let cells =
        std::fs::read_to_string(&model).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    let start = cells
        .find("module SB_MAC16")
        .expect("SB_MAC16 in cells_sim.v");
    let len = cells[start..].find("endmodule").expect("its endmodule") + "endmodule".len();
    cells[start..start + len].to_string()
}
