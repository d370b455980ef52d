//! The integer arithmetic contract (docs/arithmetic.md), implemented once.
//!
//! Every consumer — golden model, training export, RTL tests — calls these functions, so the
//! contract cannot drift between them.

/// Round-half-up division by 2^shift: floor((v + 2^(shift-1)) / 2^shift); identity for shift = 0.
///
/// "Half up" means towards +inf: -2.5 rounds to -2, 2.5 rounds to 3. This is what an arithmetic
/// right shift after adding the half-LSB computes in hardware.
pub fn round_half_up_shift(v: i64, shift: u32) -> i64 {
    debug_assert!(shift < 63);
    if shift == 0 {
        v
    } else {
        (v + (1i64 << (shift - 1))) >> shift
    }
}

/// Largest hidden activation for `act_bits`: 2^(act_bits-1) - 1 (ReLU keeps the non-negative half).
pub fn act_max(act_bits: u32) -> i32 {
    (1i32 << (act_bits - 1)) - 1
}

/// Signed range [min, max] of a `bits`-wide two's complement integer.
pub fn signed_range(bits: u32) -> (i64, i64) {
    (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
}

/// Requantization of an accumulator: clamp(round_half_up(y * m / 2^s), 0, act_max) (ReLU folded in).
pub fn requantize(y: i64, multiplier: u32, shift: u32, act_bits: u32) -> i32 {
    let v = round_half_up_shift(y * i64::from(multiplier), shift);
    v.clamp(0, i64::from(act_max(act_bits))) as i32
}

/// Hidden-layer activation: requantize, then the STAR threshold tau (z < tau gives 0).
pub fn activation(y: i64, multiplier: u32, shift: u32, tau: i32, act_bits: u32) -> i32 {
    let z = requantize(y, multiplier, shift, act_bits);
    if z < tau {
        0
    } else {
        z
    }
}

/// Smallest accumulator value that requantizes to act_max. Hardware may saturate y to this value
/// before multiplying (a narrower multiplier) without changing any result: for y <= 0 the
/// activation is 0 and for y >= y_sat it is act_max.
pub fn saturation_point(multiplier: u32, shift: u32, act_bits: u32) -> i64 {
    let m = i64::from(multiplier);
    // Need floor((y*m + half) / 2^s) >= zmax  <=>  y*m >= zmax*2^s - half.
    let half = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
    let target = i64::from(act_max(act_bits)) * (1i64 << shift) - half;
    // ceil(target / m) for target > 0 (always true since zmax >= 1).
    (target + m - 1) / m
}

/// Delta encoder for one element: returns (emitted delta, new reference).
/// |x - r| > theta emits the delta and moves the reference to x; otherwise emits 0 and keeps r.
pub fn delta_encode(x: i32, reference: i32, theta: i32) -> (i32, i32) {
    let d = x - reference;
    if d.abs() > theta {
        (d, x)
    } else {
        (0, reference)
    }
}

/// DASNet winners-take-all: keep the `k` largest values (ties to the lower index), zero the rest.
pub fn winners_take_all(z: &mut [i32], k: usize) {
    if k >= z.len() {
        return;
    }
    let mut order: Vec<usize> = (0..z.len()).collect();
    // Stable sort by descending value keeps lower indices first among equal values.
    order.sort_by(|&a, &b| z[b].cmp(&z[a]));
    for &i in &order[k..] {
        z[i] = 0;
    }
}

/// Chooses (multiplier, shift) with multiplier < 2^16 so that multiplier / 2^shift approximates
/// `scale` as closely as the 16-bit multiplier allows. Returns None for a non-positive or
/// non-finite scale, or one too large to express (>= 2^16).
pub fn quantize_multiplier(scale: f64) -> Option<(u32, u32)> {
    if !(scale.is_finite() && scale > 0.0) || scale >= 65535.5 {
        return None;
    }
    let mut best: Option<(u32, u32, f64)> = None;
    for shift in 0..=MAX_SHIFT {
        let m = (scale * (1u64 << shift) as f64).round();
        if m < 1.0 {
            continue;
        }
        if m > 65535.0 {
            break;
        }
        let err = ((m / (1u64 << shift) as f64) - scale).abs();
        if best.is_none_or(|(_, _, e)| err < e) {
            best = Some((m as u32, shift, err));
        }
    }
    best.map(|(m, s, _)| (m, s))
}

/// Largest requantization shift the contract allows: y (32 bits) * m (16 bits) fits 48 bits.
pub const MAX_SHIFT: u32 = 47;
/// Largest requantization multiplier (16-bit unsigned, so the hardware multiply stays narrow).
pub const MAX_MULTIPLIER: u32 = 65535;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_up_for_negative_values() {
        // -5/2 = -2.5 -> -2 ; -7/2 = -3.5 -> -3 ; -6/4 = -1.5 -> -1 ; -3/4 = -0.75 -> -1
        assert_eq!(round_half_up_shift(-5, 1), -2);
        assert_eq!(round_half_up_shift(-7, 1), -3);
        assert_eq!(round_half_up_shift(-6, 2), -1);
        assert_eq!(round_half_up_shift(-3, 2), -1);
        assert_eq!(round_half_up_shift(5, 1), 3);
        assert_eq!(round_half_up_shift(-1, 1), 0);
    }

    #[test]
    fn shift_zero_is_identity() {
        for v in [-300i64, -1, 0, 1, 77] {
            assert_eq!(round_half_up_shift(v, 0), v);
        }
        assert_eq!(requantize(5, 3, 0, 8), 15);
        assert_eq!(requantize(-5, 3, 0, 8), 0);
    }

    #[test]
    fn requantize_saturates_and_applies_relu() {
        assert_eq!(requantize(1_000_000, 1, 0, 8), 127);
        assert_eq!(requantize(i64::from(i32::MAX), 65535, 0, 8), 127);
        assert_eq!(requantize(i64::from(i32::MIN), 65535, 47, 8), 0);
        assert_eq!(requantize(-1, 1, 1, 8), 0);
        assert_eq!(requantize(255, 1, 1, 8), 127); // 127.5 rounds up to 128, clamps to 127
        assert_eq!(requantize(253, 1, 1, 8), 127); // 126.5 -> 127
        assert_eq!(requantize(15, 1, 1, 4), 7); // act_bits = 4: range 0..=7
    }

    #[test]
    fn tau_zeroes_small_activations() {
        assert_eq!(activation(10, 1, 0, 11, 8), 0);
        assert_eq!(activation(11, 1, 0, 11, 8), 11);
        assert_eq!(activation(10, 1, 0, 0, 8), 10);
    }

    #[test]
    fn saturation_point_is_exact() {
        for (m, s) in [
            (1u32, 0u32),
            (3, 2),
            (40000, 20),
            (65535, 47),
            (12345, 9),
            (1, 10),
        ] {
            let ys = saturation_point(m, s, 8);
            assert_eq!(requantize(ys, m, s, 8), 127, "m={m} s={s}");
            if ys > 1 {
                assert!(requantize(ys - 1, m, s, 8) < 127, "m={m} s={s}");
            }
        }
    }

    #[test]
    fn delta_threshold_is_strict() {
        assert_eq!(delta_encode(5, 3, 2), (0, 3)); // |2| > 2 is false
        assert_eq!(delta_encode(6, 3, 2), (3, 6));
        assert_eq!(delta_encode(-128, 127, 0), (-255, -128));
        assert_eq!(delta_encode(4, 4, 0), (0, 4));
    }

    #[test]
    fn wta_keeps_top_k_ties_low_index() {
        let mut z = vec![3, 7, 7, 1, 7];
        winners_take_all(&mut z, 2);
        assert_eq!(z, vec![0, 7, 7, 0, 0]);
        let mut z = vec![0, 0, 5];
        winners_take_all(&mut z, 2);
        assert_eq!(z, vec![0, 0, 5]);
    }

    #[test]
    fn multiplier_approximates_scale() {
        let (m, s) = quantize_multiplier(0.0123).unwrap();
        assert!(m <= MAX_MULTIPLIER && s <= MAX_SHIFT);
        assert!((f64::from(m) / (1u64 << s) as f64 - 0.0123).abs() < 1e-6);
        assert_eq!(quantize_multiplier(1.0), Some((1, 0)));
        assert_eq!(quantize_multiplier(0.0), None);
        assert_eq!(quantize_multiplier(1e9), None);
    }
}
