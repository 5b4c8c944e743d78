//! The comparison as a plain-text table for a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::multi::SystemsComparison;
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
    printable(&out).into_owned()
}

/// The N-way comparison: the base, every system against it (delta, CI, raw and corrected p, wins/losses/ties),
/// the ranking, the best system against the runner-up and the verdict.
pub fn render_systems_table(comparison: &SystemsComparison) -> String {
    let c = comparison;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BERTScore comparison of {} systems against base on {} items ({})",
        c.systems.len(),
        c.n,
        c.settings
    );
    let _ = writeln!(out);
    let width = c
        .systems
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(6);
    let adjusted = format!("p ({})", c.correction);
    let _ = writeln!(
        out,
        "{:<width$} {:>8} {:>9}   {:<21} {:>9} {:>12}  {:>11}",
        "system", "F1", "delta", "95% CI of delta", "p", adjusted, "W/L/T"
    );
    let _ = writeln!(out, "{:<width$} {:>8.4}", "base", c.base.f1);
    for s in &c.systems {
        let _ = writeln!(
            out,
            "{:<width$} {:>8.4} {:>+9.4}   [{:>+8.4}, {:>+8.4}]  {:>9} {:>12}  {:>11}",
            s.name,
            s.means.f1,
            s.delta_f1,
            s.ci95[0],
            s.ci95[1],
            format_p(s.p_value),
            format_p(s.p_adjusted),
            format!("{}/{}/{}", s.wins, s.losses, s.ties)
        );
    }
    let _ = writeln!(out);
    let ranking: Vec<String> = c
        .ranking
        .iter()
        .map(|r| format!("{}. {} ({:.4})", r.rank, r.name, r.f1))
        .collect();
    let _ = writeln!(out, "ranking by mean F1: {}", ranking.join(", "));
    let h = &c.best_vs_runner_up;
    let _ = writeln!(
        out,
        "best vs runner-up: {} - {} = {:+.4} [{:+.4}, {:+.4}], p {}, {} wins, {} losses, {} ties",
        h.best,
        h.runner_up,
        h.delta_f1,
        h.ci95[0],
        h.ci95[1],
        format_p(h.p_value),
        h.wins,
        h.losses,
        h.ties
    );
    let test = match c.permutation_test {
        PermutationTest::Exact { patterns } => format!("exact over all {patterns} sign patterns"),
        PermutationTest::MonteCarlo { permutations } => {
            format!("{permutations} random sign patterns")
        }
    };
    let _ = writeln!(
        out,
        "CI: paired bootstrap, {} resamples, seed {}; p: two-sided paired permutation test, {test}; \
         corrected for {} systems: {}",
        c.bootstrap,
        c.seed,
        c.systems.len(),
        c.correction
    );
    let _ = writeln!(
        out,
        "verdict: {} ({})",
        c.verdict,
        systems_verdict_reason(c)
    );
    if !c.warnings.is_empty() {
        let _ = writeln!(out);
        for warning in &c.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
    }
    printable(&out).into_owned()
}

/// Why the N-way verdict is what it is, in words.
pub fn systems_verdict_reason(c: &SystemsComparison) -> String {
    let best = &c.best_vs_runner_up.best;
    let Some(s) = c.system(best) else {
        return String::new();
    };
    let corrected = format!("{} p", c.correction);
    if c.verdict == *best {
        format!(
            "{best} has the highest mean F1; delta {:+.4} > margin {} and {corrected} {} < alpha {}",
            s.delta_f1,
            c.margin,
            format_p(s.p_adjusted),
            c.alpha
        )
    } else if c.verdict == "base" {
        format!(
            "every system is worse than base by more than margin {} with {corrected} < alpha {}",
            c.margin, c.alpha
        )
    } else if s.p_adjusted >= c.alpha {
        format!(
            "best system {best}: {corrected} {} >= alpha {}: its gain could be chance",
            format_p(s.p_adjusted),
            c.alpha
        )
    } else {
        format!(
            "best system {best}: delta {:+.4} is not above margin {}",
            s.delta_f1, c.margin
        )
    }
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

/// `text` safe to show on a terminal: every control character but the line feed (ESC and so escape
/// sequences, carriage return, backspace, tab, DEL, the C1 controls) and the bidirectional overrides and
/// isolates are written as Rust escapes (`\u{1b}`). The plain-text tables (here and the CLI's) pass what they
/// print through it, so an id, a name or a text cannot drive the terminal. HTML and CSV have their own escaping.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
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
    fn control_characters_in_ids_and_texts_are_escaped() {
        assert_eq!(printable("plain\nlines"), "plain\nlines");
        assert_eq!(
            printable("\u{1b}[2Jx\r\u{9b}\u{202e}"),
            "\\u{1b}[2Jx\\r\\u{9b}\\u{202e}"
        );
        let c = comparison_from(&[("\u{1b}]0;owned\u{7}", 0.5, 0.7), ("b", 0.4, 0.3)]);
        let table = render_table(&c);
        assert!(
            !table.contains('\u{1b}') && !table.contains('\u{7}'),
            "{table:?}"
        );
        assert!(table.contains("\\u{1b}]0;owned\\u{7}"), "{table}");
    }

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
    fn systems_table_has_every_system_the_ranking_and_the_verdict() {
        use crate::multi::{Correction, statistics};
        let score = |f: f64| bertscore_engine::PairScore {
            precision: f,
            recall: f,
            f1: f,
        };
        let base: Vec<_> = [0.5; 6].iter().map(|&f| score(f)).collect();
        let a: Vec<_> = [0.6; 6].iter().map(|&f| score(f)).collect();
        let b: Vec<_> = [0.55, 0.55, 0.55, 0.55, 0.55, 0.45]
            .iter()
            .map(|&f| score(f))
            .collect();
        let mut c = statistics(
            &[&base, &a, &b],
            &["lr-a".to_string(), "lr-b".to_string()],
            &crate::CompareSettings::default(),
            Correction::Holm,
        )
        .unwrap();
        c.settings = "test".into();
        let table = render_systems_table(&c);
        assert!(
            table.contains("BERTScore comparison of 2 systems against base on 6 items (test)"),
            "{table}"
        );
        assert!(table.contains("p (holm)"), "{table}");
        let row = table.lines().find(|l| l.starts_with("lr-a")).unwrap();
        assert!(
            row.contains("0.6000")
                && row.contains("+0.1000")
                && row.contains("0.0312")
                && row.contains("0.0625")
                && row.contains("6/0/0"),
            "{row}"
        );
        assert!(
            table.contains("ranking by mean F1: 1. lr-a (0.6000), 2. lr-b (0.5333)"),
            "{table}"
        );
        assert!(
            table.contains("best vs runner-up: lr-a - lr-b = +0.0667"),
            "{table}"
        );
        assert!(
            table.contains("verdict: inconclusive (best system lr-a: holm p 0.0625 >= alpha 0.05"),
            "{table}"
        );
    }

    #[test]
    fn long_texts_are_cut_to_one_line() {
        assert_eq!(one_line("a\n b  c", 10), "a b c");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(format_p(0.04), "0.0400");
        assert_eq!(format_p(0.000976), "9.760e-4");
    }
}
