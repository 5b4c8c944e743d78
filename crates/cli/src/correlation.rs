//! Correlation of a metric's scores with human judgments: Pearson's r, and Kendall's tau-b (ties
//! counted as scipy's `kendalltau` counts them; the `kendalls` crate's O(n log n) merge-sort
//! algorithm, so bootstrapping a few thousand items stays quick).
//!
//! Both are NaN when either side is constant (no ordering to agree with).

/// Pearson's correlation coefficient of `x` and `y` (same length).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mean_x, mean_y) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mean_x, b - mean_y);
        xy += dx * dy;
        xx += dx * dx;
        yy += dy * dy;
    }
    if xx == 0.0 || yy == 0.0 {
        return f64::NAN;
    }
    (xy / (xx * yy).sqrt()).clamp(-1.0, 1.0)
}

/// Kendall's tau-b of `x` and `y` (same length, at least one item).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> f64 {
    kendalls::tau_b_with_comparator(x, y, f64::total_cmp).map_or(f64::NAN, |(tau, _z)| tau)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_by_hand() {
        // x = 1..4, y = 2, 4, 5, 9: means 2.5 and 5; Σdxdy = 11, Σdx² = 5, Σdy² = 26.
        let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 5.0, 9.0]);
        assert!((r - 11.0 / (5.0f64 * 26.0).sqrt()).abs() < 1e-15, "{r}");
        assert_eq!(pearson(&[1.0, 2.0], &[5.0, 3.0]), -1.0);
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    }

    #[test]
    fn kendall_tau_b_matches_scipy_with_ties() {
        // scipy.stats.kendalltau's documented example (ties on both sides): -0.47140452079103173.
        let tau = kendall_tau_b(&[12.0, 2.0, 1.0, 12.0, 2.0], &[1.0, 4.0, 7.0, 1.0, 0.0]);
        assert!((tau + 0.471_404_520_791_031_73).abs() < 1e-12, "{tau}");
        // No ties: (concordant - discordant) / pairs = (5 - 1) / 6.
        let tau = kendall_tau_b(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]);
        assert!((tau - 4.0 / 6.0).abs() < 1e-12, "{tau}");
        assert!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    }
}
