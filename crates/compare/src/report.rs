//! The comparison as a plain-text table for a terminal.

use std::fmt::Write as _;

use crate::stats::PermutationTest;
use crate::{Comparison, TIE_TOLERANCE, Verdict};

/// How many of the largest regressions and gains the table lists.
const LISTED_ITEMS: usize = 3;

/// Means, differences with their CI and p-value, wins/losses/ties, the verdict, and the largest changes.
pub fn render_table(comparison: &Comparison) -> String {
    let s = &comparison.statistics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BERTScore comparison of {} items ({})",
        s.n, comparison.settings
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<10} {:>8} {:>8} {:>9}   {:<21} {:>8}",
        "metric", "base", "custom", "delta", "95% CI of delta", "p"
    );
    let rows = [
        (
            "precision",
            s.base.precision,
            s.custom.precision,
            &s.deltas.precision,
        ),
        ("recall", s.base.recall, s.custom.recall, &s.deltas.recall),
        ("F1", s.base.f1, s.custom.f1, &s.deltas.f1),
    ];
    for (name, base, custom, delta) in rows {
        let _ = writeln!(
            out,
            "{:<10} {:>8.4} {:>8.4} {:>+9.4}   [{:>+8.4}, {:>+8.4}]  {:>8}",
            name,
            base,
            custom,
            delta.mean,
            delta.ci95[0],
            delta.ci95[1],
            format_p(delta.p_value)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "custom vs base on F1: {} wins, {} losses, {} ties (|delta| <= {TIE_TOLERANCE:e})",
        s.wins, s.losses, s.ties
    );
    let test = match s.permutation_test {
        PermutationTest::Exact { patterns } => format!("exact over all {patterns} sign patterns"),
        PermutationTest::MonteCarlo { permutations } => {
            format!("{permutations} random sign patterns")
        }
    };
    let _ = writeln!(
        out,
        "CI: paired bootstrap, {} resamples, seed {}; p: two-sided paired permutation test, {test}",
        s.bootstrap, s.seed
    );
    let _ = writeln!(
        out,
        "verdict: {} ({})",
        s.verdict,
        verdict_reason(comparison)
    );

    let (regressions, gains) = comparison.largest_changes(LISTED_ITEMS);
    for (title, items) in [
        ("largest regressions", regressions),
        ("largest gains", gains),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{title} (F1 base -> custom):");
        for item in items {
            let _ = writeln!(
                out,
                "  {:<12} {:.4} -> {:.4} ({:+.4})  {}",
                item.id,
                item.base.f1,
                item.custom.f1,
                item.delta_f1,
                one_line(&item.custom.text, 60)
            );
        }
    }
    if !comparison.warnings.is_empty() {
        let _ = writeln!(out);
        for warning in &comparison.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
    }
    out
}

/// Why the verdict is what it is, in words.
pub fn verdict_reason(comparison: &Comparison) -> String {
    let s = &comparison.statistics;
    let significant = s.p_value < s.alpha;
    match s.verdict {
        Verdict::Custom => format!(
            "F1 delta {:+.4} > margin {} and p {} < alpha {}",
            s.delta_f1,
            s.margin,
            format_p(s.p_value),
            s.alpha
        ),
        Verdict::Base => format!(
            "F1 delta {:+.4} < -margin {} and p {} < alpha {}",
            s.delta_f1,
            s.margin,
            format_p(s.p_value),
            s.alpha
        ),
        Verdict::Inconclusive if !significant => format!(
            "p {} >= alpha {}: the difference could be chance",
            format_p(s.p_value),
            s.alpha
        ),
        Verdict::Inconclusive => {
            format!("|F1 delta| {:.4} <= margin {}", s.delta_f1.abs(), s.margin)
        }
    }
}

/// p-values in 4 significant digits, small ones in scientific notation.
pub fn format_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.3e}")
    } else {
        format!("{p:.4}")
    }
}

/// The text on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::comparison_from;

    #[test]
    fn table_shows_means_deltas_and_verdict() {
        let c = comparison_from(&[("a", 0.5, 0.7), ("b", 0.4, 0.3), ("c", 0.6, 0.6)]);
        let table = render_table(&c);
        assert!(
            table.contains("BERTScore comparison of 3 items (test)"),
            "{table}"
        );
        let f1_row = table.lines().find(|l| l.starts_with("F1")).unwrap();
        assert!(
            f1_row.contains("0.5000") && f1_row.contains("0.5333") && f1_row.contains("+0.0333"),
            "{f1_row}"
        );
        assert!(table.contains("1 wins, 1 losses, 1 ties"), "{table}");
        assert!(table.contains("verdict: inconclusive (p "), "{table}");
        assert!(
            table.contains("largest regressions (F1 base -> custom):\n  b "),
            "{table}"
        );
        assert!(
            table.contains("largest gains (F1 base -> custom):\n  a "),
            "{table}"
        );
        assert!(table.contains("exact over all 8 sign patterns"), "{table}");
    }

    #[test]
    fn long_texts_are_cut_to_one_line() {
        assert_eq!(one_line("a\n b  c", 10), "a b c");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(format_p(0.04), "0.0400");
        assert_eq!(format_p(0.000976), "9.760e-4");
    }
}
