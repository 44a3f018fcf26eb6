//! The noise: OpenDP's exact discrete Laplace sampler, and what follows
//! from its scale (the threshold a new group must pass, the error shown).
//!
//! Why OpenDP: its samplers draw from the exact distribution over
//! arbitrary-precision rationals (Canonne, Kamath and Steinke 2020), so
//! there is no floating-point Laplace to attack (Mironov 2012: the gaps
//! between doubles leak the true value), and with its `use-openssl`
//! feature the entropy is OpenSSL's `RAND_priv_bytes`. Every sum we
//! release is an integer (counts, seconds, cents), which is what the
//! discrete Laplace mechanism is made for: a sum whose value one visit can
//! move by at most `sensitivity`, released as `sum + Z` with
//! `Z ~ L_Z(sensitivity / ε)`, is ε-differentially private.

use dashu::integer::IBig;
use dashu::rational::RBig;

#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    #[error("noise scale {0} is not a finite positive number")]
    Scale(f64),
    #[error("the sampler failed: {0}")]
    Sampler(String),
}

/// A sample of the discrete Laplace distribution with `scale`:
/// `P(X = x) ∝ exp(-|x| / scale)`.
pub fn discrete_laplace(scale: f64) -> Result<i64, NoiseError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(NoiseError::Scale(scale));
    }
    // Exact: every f64 is a rational.
    let scale = RBig::try_from(scale).map_err(|_| NoiseError::Scale(scale))?;
    let x: IBig = opendp::traits::samplers::sample_discrete_laplace(scale).map_err(|e| NoiseError::Sampler(e.to_string()))?;
    // A draw beyond i64 would need scale ~1e17; clamp rather than fail.
    Ok(i64::try_from(&x).unwrap_or(if x.signum() < IBig::ZERO { i64::MIN / 2 } else { i64::MAX / 2 }))
}

/// The variance of one draw of scale `b`:
/// `2 e^{-1/b} / (1 - e^{-1/b})^2` (≈ 2b² for large b).
pub fn variance(b: f64) -> f64 {
    let q = (-1.0 / b).exp();
    2.0 * q / ((1.0 - q) * (1.0 - q))
}

/// The ± shown with a released number whose noise has variance `var`:
/// two standard deviations, about a 95 % interval.
pub fn error(var: f64) -> f64 {
    2.0 * var.max(0.0).sqrt()
}

/// The smallest noisy count at which a group is shown, when one visit can
/// be in up to `groups_per_visit` groups of a cell and the count noise
/// has scale `b`. A group that only one visit has has the true count 1;
/// for it to show, its noise must reach `threshold - 1`, which happens
/// with probability `e^{-(t-1)/b} / (1 + e^{-1/b}) < e^{-(t-1)/b}`. Over the
/// `groups_per_visit` groups one visit can add, the chance that any of
/// them shows is then below `delta`.
pub fn threshold(b: f64, groups_per_visit: u32, delta: f64) -> u64 {
    let t = 1.0 + b * (f64::from(groups_per_visit.max(1)) / delta).ln();
    t.ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_asked_spread() {
        let b = 20.0;
        let n = 4000;
        let xs: Vec<i64> = (0..n).map(|_| discrete_laplace(b).unwrap()).collect();
        let mean = xs.iter().sum::<i64>() as f64 / n as f64;
        let var = xs.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        // The mean of 4000 draws has sd sqrt(800/4000) ≈ 0.45; the sample
        // variance is within ±15 % of 2b² with overwhelming probability.
        assert!(mean.abs() < 3.0, "mean {mean}");
        assert!((var / variance(b) - 1.0).abs() < 0.15, "variance {var} vs {}", variance(b));
        assert!(xs.iter().any(|x| *x != xs[0]), "draws differ");
        assert!(discrete_laplace(0.0).is_err() && discrete_laplace(f64::NAN).is_err());
    }

    #[test]
    fn one_visit_rarely_passes_the_threshold() {
        // b = 2, δ = 1e-3: t = 1 + 2 ln(1000) ≈ 14.8 → 15.
        let t = threshold(2.0, 1, 1e-3);
        assert_eq!(t, 15);
        assert!(threshold(2.0, 5, 1e-3) > t, "more groups per visit, higher bar");
        // The exact tail: P(X >= 14) = e^{-14/2} / (1 + e^{-1/2}) ≈ 5.7e-4 < δ.
        let tail = (-14.0f64 / 2.0).exp() / (1.0 + (-0.5f64).exp());
        assert!(tail < 1e-3, "{tail}");
        // Empirically: 20,000 single-visit groups, about 11 pass (δ would
        // allow 20); 40 is beyond four standard deviations of that.
        let passed = (0..20_000).filter(|_| 1 + discrete_laplace(2.0).unwrap() >= t as i64).count();
        assert!(passed <= 40, "{passed} of 20000 single-visit groups passed");
    }
}
