//! The comparison as one self-contained HTML page: no scripts or fonts are fetched, the plots are inline SVG,
//! so the file can be mailed, archived as a CI artifact or opened offline.
//!
//! Sections, top-down: the verdict and summary table; both F1 distributions (paired dot plot with means);
//! the per-item F1 deltas (sorted bars with the CI band of the mean); the largest regressions and gains with
//! their texts; token-similarity heatmaps (as bert_score's `plot_example` draws them) for the chosen items,
//! with a selector when there are several.

use std::fmt::Write as _;

use bertscore_engine::TokenSimilarity;
use serde::Serialize;

use crate::multi::{SystemsComparison, SystemsItemComparison};
use crate::report::{format_p, systems_verdict_reason, verdict_reason};
use crate::{Comparison, TIE_TOLERANCE, Verdict};

/// How many regressions and gains the page lists with their texts.
const LISTED_ITEMS: usize = 5;

/// One side (base or custom) of an item's heatmap, drawn against the reference that gives it its best F1.
#[derive(Debug, Clone, Serialize)]
pub struct HeatmapSide {
    /// Which of the item's references the similarities are against.
    pub reference_index: usize,
    /// Token-by-token cosine similarities (rescaled when the scores are) and the pair's scores.
    pub similarity: TokenSimilarity,
}

/// The heatmaps of one item, with why it was chosen ("largest regression", "chosen", ...).
#[derive(Debug, Clone, Serialize)]
pub struct ItemHeatmap {
    /// The item's id.
    pub id: String,
    /// Why the item is shown ("largest regression", "largest gain", "chosen", ...).
    pub label: String,
    /// The base model's output against its best reference.
    pub base: HeatmapSide,
    /// The custom model's output against its best reference.
    pub custom: HeatmapSide,
}

/// Renders the two-file comparison's page.
pub fn render_html(comparison: &Comparison, heatmaps: &[ItemHeatmap]) -> String {
    let s = &comparison.statistics;
    let mut page = String::with_capacity(64 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>BERTScore comparison: {verdict}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        verdict = s.verdict
    );
    let _ = writeln!(page, "<h1>BERTScore comparison: base vs custom</h1>");
    let _ = writeln!(
        page,
        "<p class=\"settings\">{}</p>",
        escape(&comparison.settings)
    );
    summary(&mut page, comparison);
    let _ = writeln!(page, "<h2>F1 of every item</h2>");
    page.push_str(&distribution_plot(comparison));
    let _ = writeln!(page, "<h2>Per-item change in F1 (custom − base)</h2>");
    page.push_str(&delta_plot(comparison));
    changed_items(&mut page, comparison);
    heatmap_section(&mut page, heatmaps);
    warnings_section(&mut page, &comparison.warnings);
    let _ = writeln!(page, "<script>{SCRIPT}</script>\n</body>\n</html>");
    page
}

fn summary(page: &mut String, comparison: &Comparison) {
    let s = &comparison.statistics;
    let class = match s.verdict {
        Verdict::Custom => "custom",
        Verdict::Base => "base",
        Verdict::Inconclusive => "inconclusive",
    };
    let _ = writeln!(
        page,
        "<p class=\"verdict {class}\" id=\"verdict\">verdict: <strong>{}</strong> <span>({})</span></p>",
        s.verdict,
        escape(&verdict_reason(comparison))
    );
    let _ = writeln!(
        page,
        "<table class=\"summary\"><thead><tr><th>metric</th><th>base</th><th>custom</th><th>delta</th>\
         <th>95% CI of delta</th><th>p</th></tr></thead><tbody>"
    );
    for (name, base, custom, delta) in [
        (
            "precision",
            s.base.precision,
            s.custom.precision,
            &s.deltas.precision,
        ),
        ("recall", s.base.recall, s.custom.recall, &s.deltas.recall),
        ("F1", s.base.f1, s.custom.f1, &s.deltas.f1),
    ] {
        let _ = writeln!(
            page,
            "<tr><td>{name}</td><td>{base:.4}</td><td>{custom:.4}</td><td>{:+.4}</td>\
             <td>[{:+.4}, {:+.4}]</td><td>{}</td></tr>",
            delta.mean,
            delta.ci95[0],
            delta.ci95[1],
            format_p(delta.p_value)
        );
    }
    let _ = writeln!(page, "</tbody></table>");
    let _ = writeln!(
        page,
        "<p>{} items: custom wins {}, loses {}, ties {}. CI: paired bootstrap ({} resamples, seed {}); \
         p: two-sided paired permutation test; margin {}, alpha {}.</p>",
        s.n, s.wins, s.losses, s.ties, s.bootstrap, s.seed, s.margin, s.alpha
    );
}

/// Plot geometry shared by both plots.
const PLOT_WIDTH: f64 = 760.0;
const PLOT_LEFT: f64 = 70.0;
const PLOT_RIGHT: f64 = 20.0;

/// Both models' F1 per item on a shared axis, one row each, a grey line joining an item's two dots and a
/// tick at each mean: the shift of the whole distribution and of each item are visible at once.
fn distribution_plot(comparison: &Comparison) -> String {
    let values = comparison
        .items
        .iter()
        .flat_map(|item| [item.base.f1, item.custom.f1]);
    let (low, high) = padded_range(values);
    let x = |v: f64| PLOT_LEFT + (v - low) / (high - low) * (PLOT_WIDTH - PLOT_LEFT - PLOT_RIGHT);
    let (base_y, custom_y, height) = (40.0, 110.0, 160.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg class=\"plot\" id=\"f1-distributions\" viewBox=\"0 0 {PLOT_WIDTH} {height}\" \
         role=\"img\" aria-label=\"F1 of each item for base and custom\">"
    );
    axis(&mut svg, low, high, &x, height - 25.0);
    let _ = writeln!(
        svg,
        "<text x=\"8\" y=\"{}\" class=\"label\">base</text><text x=\"8\" y=\"{}\" class=\"label\">custom</text>",
        base_y + 4.0,
        custom_y + 4.0
    );
    for item in &comparison.items {
        let (bx, cx) = (x(item.base.f1), x(item.custom.f1));
        let _ = writeln!(
            svg,
            "<line x1=\"{bx:.1}\" y1=\"{base_y}\" x2=\"{cx:.1}\" y2=\"{custom_y}\" class=\"pair\"/>\
             <circle cx=\"{bx:.1}\" cy=\"{base_y}\" r=\"5\" class=\"base\"><title>{id}: base F1 {:.4}</title></circle>\
             <circle cx=\"{cx:.1}\" cy=\"{custom_y}\" r=\"5\" class=\"custom\"><title>{id}: custom F1 {:.4}</title></circle>",
            item.base.f1,
            item.custom.f1,
            id = escape(&item.id)
        );
    }
    let s = &comparison.statistics;
    for (mean, y, class) in [
        (s.base.f1, base_y, "base"),
        (s.custom.f1, custom_y, "custom"),
    ] {
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" class=\"mean {class}\"><title>mean {3:.4}</title></line>",
            x(mean),
            y - 16.0,
            y + 16.0,
            mean
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One bar per item, sorted from the largest regression to the largest gain, with the mean difference and
/// its 95% bootstrap interval as a shaded band.
fn delta_plot(comparison: &Comparison) -> String {
    let items = comparison.items_by_delta();
    let s = &comparison.statistics;
    let values = items
        .iter()
        .map(|item| item.delta_f1)
        .chain([0.0, s.ci95[0], s.ci95[1]]);
    let (low, high) = padded_range(values);
    let height = 220.0;
    let (top, bottom) = (15.0, height - 30.0);
    let y = |v: f64| bottom - (v - low) / (high - low) * (bottom - top);
    let slot = (PLOT_WIDTH - PLOT_LEFT - PLOT_RIGHT) / items.len().max(1) as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg class=\"plot\" id=\"f1-deltas\" viewBox=\"0 0 {PLOT_WIDTH} {height}\" role=\"img\" \
         aria-label=\"F1 change per item, sorted\">"
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{PLOT_LEFT}\" width=\"{:.1}\" y=\"{:.1}\" height=\"{:.1}\" class=\"ci\"><title>95% CI of the mean delta [{:+.4}, {:+.4}]</title></rect>",
        PLOT_WIDTH - PLOT_LEFT - PLOT_RIGHT,
        y(s.ci95[1]),
        (y(s.ci95[0]) - y(s.ci95[1])).max(0.5),
        s.ci95[0],
        s.ci95[1]
    );
    for tick in ticks(low, high) {
        let _ = writeln!(
            svg,
            "<line x1=\"{PLOT_LEFT}\" x2=\"{right:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" class=\"grid\"/>\
             <text x=\"{lx:.1}\" y=\"{ly:.1}\" class=\"tick\" text-anchor=\"end\">{tick:+.2}</text>",
            right = PLOT_WIDTH - PLOT_RIGHT,
            ty = y(tick),
            lx = PLOT_LEFT - 6.0,
            ly = y(tick) + 4.0
        );
    }
    for (index, item) in items.iter().enumerate() {
        let class = if item.delta_f1 > TIE_TOLERANCE {
            "gain"
        } else if item.delta_f1 < -TIE_TOLERANCE {
            "loss"
        } else {
            "tie"
        };
        let (y0, y1) = (y(0.0), y(item.delta_f1));
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" class=\"{class}\"><title>{}: {:+.4}</title></rect>",
            PLOT_LEFT + index as f64 * slot + slot * 0.15,
            y0.min(y1),
            slot * 0.7,
            (y0 - y1).abs().max(1.0),
            escape(&item.id),
            item.delta_f1
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{PLOT_LEFT}\" x2=\"{right:.1}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\" class=\"zero\"/>\
         <line x1=\"{PLOT_LEFT}\" x2=\"{right:.1}\" y1=\"{mean:.1}\" y2=\"{mean:.1}\" class=\"mean-delta\"><title>mean {delta:+.4}</title></line>",
        right = PLOT_WIDTH - PLOT_RIGHT,
        zero = y(0.0),
        mean = y(s.delta_f1),
        delta = s.delta_f1
    );
    let _ = writeln!(
        svg,
        "<text x=\"{PLOT_LEFT}\" y=\"{}\" class=\"label\">items, sorted by change (bars); mean and its 95% CI (band)</text></svg>",
        height - 8.0
    );
    svg
}

fn changed_items(page: &mut String, comparison: &Comparison) {
    let (regressions, gains) = comparison.largest_changes(LISTED_ITEMS);
    for (title, items, id) in [
        ("Largest regressions", regressions, "regressions"),
        ("Largest gains", gains, "gains"),
    ] {
        let _ = writeln!(page, "<h2 id=\"{id}\">{title}</h2>");
        if items.is_empty() {
            let _ = writeln!(page, "<p>none</p>");
            continue;
        }
        let _ = writeln!(
            page,
            "<table class=\"items\"><thead><tr><th>id</th><th>delta F1</th><th>base</th><th>custom</th>\
             <th>reference</th></tr></thead><tbody>"
        );
        for item in items {
            let prompt = item
                .prompt
                .as_deref()
                .map(|p| {
                    format!(
                        "<details><summary>prompt</summary><pre>{}</pre></details>",
                        escape(p)
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                page,
                "<tr><td>{}{prompt}</td><td>{:+.4}</td><td>{}<br><small>F1 {:.4}</small></td>\
                 <td>{}<br><small>F1 {:.4}</small></td><td>{}</td></tr>",
                escape(&item.id),
                item.delta_f1,
                escape(&item.base.text),
                item.base.f1,
                escape(&item.custom.text),
                item.custom.f1,
                item.references
                    .iter()
                    .map(|r| escape(r))
                    .collect::<Vec<_>>()
                    .join("<hr>")
            );
        }
        let _ = writeln!(page, "</tbody></table>");
    }
}

fn heatmap_section(page: &mut String, heatmaps: &[ItemHeatmap]) {
    if heatmaps.is_empty() {
        return;
    }
    let _ = writeln!(page, "<h2>Token similarity</h2>");
    let _ = writeln!(
        page,
        "<p>Cosine similarity of each candidate token (rows) with each reference token (columns), special tokens \
         left out, as bert_score's <code>plot_example</code> draws it. Precision takes each row's maximum, recall \
         each column's.</p>"
    );
    if heatmaps.len() > 1 {
        let _ = writeln!(page, "<label>item <select id=\"heatmap-select\">");
        for (index, heatmap) in heatmaps.iter().enumerate() {
            let _ = writeln!(
                page,
                "<option value=\"{index}\">{} ({})</option>",
                escape(&heatmap.id),
                escape(&heatmap.label)
            );
        }
        let _ = writeln!(page, "</select></label>");
    }
    for (index, heatmap) in heatmaps.iter().enumerate() {
        let hidden = if index == 0 { "" } else { " hidden" };
        let _ = writeln!(
            page,
            "<section class=\"heatmap\" data-index=\"{index}\"{hidden}><h3>{} <small>({})</small></h3><div class=\"pair\">",
            escape(&heatmap.id),
            escape(&heatmap.label)
        );
        for (name, side) in [("base", &heatmap.base), ("custom", &heatmap.custom)] {
            let score = &side.similarity.score;
            let _ = writeln!(
                page,
                "<figure><figcaption>{name} vs reference {}: P {:.4}, R {:.4}, F1 {:.4}</figcaption>",
                side.reference_index + 1,
                score.precision,
                score.recall,
                score.f1
            );
            page.push_str(&heatmap_svg(&side.similarity));
            page.push_str("</figure>\n");
        }
        page.push_str("</div></section>\n");
    }
}

/// A similarity matrix as an SVG grid: white (low) to dark blue (high) over the matrix's own range, the value
/// printed in each cell.
fn heatmap_svg(similarity: &TokenSimilarity) -> String {
    let rows = &similarity.candidate_tokens;
    let columns = &similarity.reference_tokens;
    let cell = 34.0;
    // Room for the longest label (shortened to 18 characters), about 7 px per character.
    let label_room = |tokens: &[String]| {
        10.0 + 7.0
            * tokens
                .iter()
                .map(|t| t.chars().count())
                .max()
                .unwrap_or(1)
                .min(18) as f64
    };
    let (label_width, label_height) = (label_room(rows), label_room(columns));
    let width = label_width + cell * columns.len() as f64 + 10.0;
    let height = label_height + cell * rows.len() as f64 + 10.0;
    let values = similarity
        .similarity
        .iter()
        .flatten()
        .map(|&v| f64::from(v));
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let span = if high > low { high - low } else { 1.0 };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg class=\"heat\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\">"
    );
    for (j, token) in columns.iter().enumerate() {
        let x = label_width + cell * (j as f64 + 0.5);
        let _ = writeln!(
            svg,
            "<text transform=\"translate({x:.1},{:.1}) rotate(-60)\" class=\"token\">{}</text>",
            label_height - 4.0,
            escape(&shorten(token))
        );
    }
    for (i, token) in rows.iter().enumerate() {
        let y = label_height + cell * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"token\" text-anchor=\"end\">{}</text>",
            label_width - 4.0,
            y + cell * 0.6,
            escape(&shorten(token))
        );
        for (j, &value) in similarity.similarity[i].iter().enumerate() {
            let t = ((f64::from(value) - low) / span).clamp(0.0, 1.0);
            // Linear blend from #f7fbff to #08306b (the ends of matplotlib's Blues).
            let channel = |from: f64, to: f64| (from + (to - from) * t).round() as u8;
            let fill = format!(
                "#{:02x}{:02x}{:02x}",
                channel(247.0, 8.0),
                channel(251.0, 48.0),
                channel(255.0, 107.0)
            );
            let text_class = if t > 0.55 { "light" } else { "dark" };
            let x = label_width + cell * j as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\"><title>{} / {}: {value:.3}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" class=\"value {text_class}\" text-anchor=\"middle\">{value:.2}</text>",
                escape(token),
                escape(&columns[j]),
                x + cell / 2.0,
                y + cell * 0.6
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Colours of the systems in the N-way plots (matplotlib's tab10 after the base's blue), cycling.
const SYSTEM_COLOURS: [&str; 9] = [
    "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf",
];
const BASE_COLOUR: &str = "#1f77b4";

/// The N-way comparison as one self-contained page: the verdict, every system against the base (table and
/// deltas with their CIs), the ranking, the best against the runner-up, and every system's F1 distribution.
pub fn render_systems_html(comparison: &SystemsComparison) -> String {
    let c = comparison;
    let mut page = String::with_capacity(64 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>BERTScore comparison of {} systems: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        c.systems.len(),
        escape(&c.verdict)
    );
    let _ = writeln!(
        page,
        "<h1>BERTScore comparison: {} systems against base</h1>",
        c.systems.len()
    );
    let _ = writeln!(page, "<p class=\"settings\">{}</p>", escape(&c.settings));
    let class = match c.verdict.as_str() {
        "base" => "base",
        "inconclusive" => "inconclusive",
        _ => "custom",
    };
    let _ = writeln!(
        page,
        "<p class=\"verdict {class}\" id=\"verdict\">verdict: <strong>{}</strong> <span>({})</span></p>",
        escape(&c.verdict),
        escape(&systems_verdict_reason(c))
    );

    let _ = writeln!(page, "<h2 id=\"systems\">Every system against base</h2>");
    let _ = writeln!(
        page,
        "<table class=\"summary\"><thead><tr><th>system</th><th>precision</th><th>recall</th><th>F1</th>\
         <th>delta F1</th><th>95% CI of delta</th><th>p</th><th>p ({})</th><th>wins / losses / ties</th></tr>\
         </thead><tbody>",
        c.correction
    );
    let _ = writeln!(
        page,
        "<tr><td>base</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td></td><td></td><td></td><td></td><td></td></tr>",
        c.base.precision, c.base.recall, c.base.f1
    );
    for s in &c.systems {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:+.4}</td><td>[{:+.4}, {:+.4}]</td>\
             <td>{}</td><td>{}</td><td>{} / {} / {}</td></tr>",
            escape(&s.name),
            s.means.precision,
            s.means.recall,
            s.means.f1,
            s.delta_f1,
            s.ci95[0],
            s.ci95[1],
            format_p(s.p_value),
            format_p(s.p_adjusted),
            s.wins,
            s.losses,
            s.ties
        );
    }
    let _ = writeln!(page, "</tbody></table>");
    let _ = writeln!(
        page,
        "<p>{} items. CI: paired bootstrap ({} resamples, seed {}); p: two-sided paired permutation test, \
         adjusted for {} systems ({}); margin {}, alpha {}.</p>",
        c.n,
        c.bootstrap,
        c.seed,
        c.systems.len(),
        c.correction,
        c.margin,
        c.alpha
    );
    let _ = writeln!(
        page,
        "<h2>Change in mean F1 against base, with 95% CIs</h2>"
    );
    page.push_str(&systems_delta_plot(c));

    let _ = writeln!(
        page,
        "<h2 id=\"ranking\">Ranking by mean F1</h2><ol class=\"ranking\">"
    );
    for r in &c.ranking {
        let _ = writeln!(
            page,
            "<li>{} <small>F1 {:.4}</small></li>",
            escape(&r.name),
            r.f1
        );
    }
    let _ = writeln!(page, "</ol>");
    let h = &c.best_vs_runner_up;
    let _ = writeln!(
        page,
        "<p id=\"best-vs-runner-up\">Best against runner-up: {} − {} = {:+.4} F1, 95% CI [{:+.4}, {:+.4}], \
         p {} (uncorrected); {} wins, {} losses, {} ties.</p>",
        escape(&h.best),
        escape(&h.runner_up),
        h.delta_f1,
        h.ci95[0],
        h.ci95[1],
        format_p(h.p_value),
        h.wins,
        h.losses,
        h.ties
    );

    let _ = writeln!(page, "<h2>F1 of every item</h2>");
    page.push_str(&systems_distribution_plot(c));
    disagreements(&mut page, c);
    warnings_section(&mut page, &c.warnings);
    let _ = writeln!(page, "</body>\n</html>");
    page
}

/// The items where the systems (base included) differ most in F1, with every output.
fn disagreements(page: &mut String, c: &SystemsComparison) {
    let spread = |item: &SystemsItemComparison| {
        let f1 = std::iter::once(item.base.f1).chain(item.systems.iter().map(|s| s.f1));
        let (low, high) = f1.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        high - low
    };
    let mut items: Vec<&SystemsItemComparison> = c.items.iter().collect();
    items.sort_by(|a, b| {
        spread(b)
            .total_cmp(&spread(a))
            .then_with(|| a.id.cmp(&b.id))
    });
    items.truncate(LISTED_ITEMS);
    if items.is_empty() {
        return;
    }
    let _ = writeln!(
        page,
        "<h2 id=\"disagreements\">Where the systems differ most</h2>\
         <table class=\"items\"><thead><tr><th>id</th><th>base</th>"
    );
    for s in &c.systems {
        let _ = write!(page, "<th>{}</th>", escape(&s.name));
    }
    let _ = writeln!(page, "<th>reference</th></tr></thead><tbody>");
    for item in items {
        let _ = write!(page, "<tr><td>{}</td>", escape(&item.id));
        for side in std::iter::once(&item.base).chain(&item.systems) {
            let _ = write!(
                page,
                "<td>{}<br><small>F1 {:.4}</small></td>",
                escape(&side.text),
                side.f1
            );
        }
        let _ = writeln!(
            page,
            "<td>{}</td></tr>",
            item.references
                .iter()
                .map(|r| escape(r))
                .collect::<Vec<_>>()
                .join("<hr>")
        );
    }
    let _ = writeln!(page, "</tbody></table>");
}

/// One row per system: the mean F1 change against base (dot) and its 95% interval (bar), a line at zero.
fn systems_delta_plot(c: &SystemsComparison) -> String {
    let values = c
        .systems
        .iter()
        .flat_map(|s| [s.delta_f1, s.ci95[0], s.ci95[1]])
        .chain([0.0]);
    let (low, high) = padded_range(values);
    let x = |v: f64| PLOT_LEFT + (v - low) / (high - low) * (PLOT_WIDTH - PLOT_LEFT - PLOT_RIGHT);
    let row = 34.0;
    let height = 20.0 + row * c.systems.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg class=\"plot\" id=\"system-deltas\" viewBox=\"0 0 {PLOT_WIDTH} {height}\" role=\"img\" \
         aria-label=\"change in mean F1 of each system against base, with 95% intervals\">"
    );
    axis(&mut svg, low, high, &x, height - 25.0);
    let _ = writeln!(
        svg,
        "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"10\" y2=\"{1:.1}\" class=\"zero\"/>",
        x(0.0),
        height - 25.0
    );
    for (k, s) in c.systems.iter().enumerate() {
        let y = 20.0 + row * (k as f64 + 0.5);
        let colour = SYSTEM_COLOURS[k % SYSTEM_COLOURS.len()];
        let _ = writeln!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" class=\"label\">{}</text>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"4\">\
             <title>{}: 95% CI [{:+.4}, {:+.4}]</title></line>\
             <circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{colour}\"><title>{}: {:+.4} (p {}, {} p {})</title></circle>",
            y + 4.0,
            escape(&shorten(&s.name)),
            x(s.ci95[0]),
            x(s.ci95[1]),
            escape(&s.name),
            s.ci95[0],
            s.ci95[1],
            x(s.delta_f1),
            escape(&s.name),
            s.delta_f1,
            format_p(s.p_value),
            c.correction,
            format_p(s.p_adjusted)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One row per system (base first): each item's F1 as a dot and the mean as a tick, on a shared axis.
fn systems_distribution_plot(c: &SystemsComparison) -> String {
    let values = c
        .items
        .iter()
        .flat_map(|item| std::iter::once(item.base.f1).chain(item.systems.iter().map(|s| s.f1)));
    let (low, high) = padded_range(values);
    let x = |v: f64| PLOT_LEFT + (v - low) / (high - low) * (PLOT_WIDTH - PLOT_LEFT - PLOT_RIGHT);
    let row = 40.0;
    let rows = c.systems.len() + 1;
    let height = 20.0 + row * rows as f64 + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg class=\"plot\" id=\"system-distributions\" viewBox=\"0 0 {PLOT_WIDTH} {height}\" role=\"img\" \
         aria-label=\"F1 of each item for base and every system\">"
    );
    axis(&mut svg, low, high, &x, height - 25.0);
    let sides = std::iter::once(("base", BASE_COLOUR, c.base.f1)).chain(
        c.systems.iter().enumerate().map(|(k, s)| {
            (
                s.name.as_str(),
                SYSTEM_COLOURS[k % SYSTEM_COLOURS.len()],
                s.means.f1,
            )
        }),
    );
    for (r, (name, colour, mean)) in sides.enumerate() {
        let y = 20.0 + row * (r as f64 + 0.5);
        let _ = writeln!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" class=\"label\">{}</text>",
            y + 4.0,
            escape(&shorten(name))
        );
        for item in &c.items {
            let f1 = if r == 0 {
                item.base.f1
            } else {
                item.systems[r - 1].f1
            };
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"{colour}\" fill-opacity=\".7\">\
                 <title>{}: {} F1 {f1:.4}</title></circle>",
                x(f1),
                escape(&item.id),
                escape(name)
            );
        }
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\" stroke=\"{colour}\" stroke-width=\"3\">\
             <title>{3} mean {4:.4}</title></line>",
            x(mean),
            y - 14.0,
            y + 14.0,
            escape(name),
            mean
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Draws the horizontal axis with ticks at `baseline_y`.
fn axis(svg: &mut String, low: f64, high: f64, x: &dyn Fn(f64) -> f64, baseline_y: f64) {
    let _ = writeln!(
        svg,
        "<line x1=\"{PLOT_LEFT}\" x2=\"{:.1}\" y1=\"{baseline_y}\" y2=\"{baseline_y}\" class=\"axis\"/>",
        PLOT_WIDTH - PLOT_RIGHT
    );
    for tick in ticks(low, high) {
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{baseline_y}\" y2=\"{1}\" class=\"axis\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" class=\"tick\" text-anchor=\"middle\">{tick:.2}</text>",
            x(tick),
            baseline_y + 5.0,
            baseline_y + 18.0
        );
    }
}

/// The range of `values` with 5% room on each side (and a minimum width, so equal values still plot).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((high - low) * 0.05).max(0.01);
    (low - pad, high + pad)
}

/// About five round tick values within `[low, high]`.
fn ticks(low: f64, high: f64) -> Vec<f64> {
    let raw = (high - low) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

fn shorten(token: &str) -> String {
    if token.chars().count() > 18 {
        token.chars().take(17).chain(['…']).collect()
    } else {
        token.to_string()
    }
}

/// The warnings, when there are any, as a list under their own heading.
fn warnings_section(page: &mut String, warnings: &[String]) {
    if !warnings.is_empty() {
        let _ = writeln!(page, "<h2>Warnings</h2><ul>");
        for warning in warnings {
            let _ = writeln!(page, "<li>{}</li>", escape(warning));
        }
        let _ = writeln!(page, "</ul>");
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#1b1f24}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
.settings{color:#555;font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
.verdict{font-size:1.2em;padding:.5em .8em;border-radius:6px}
.verdict.custom{background:#e6f4ea}.verdict.base{background:#fce8e6}.verdict.inconclusive{background:#f1f3f4}
.verdict span{font-size:.8em;color:#444}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.3em .6em;vertical-align:top}
.summary td{text-align:right;font-variant-numeric:tabular-nums}.summary td:first-child{text-align:left}
.items td{max-width:300px;font-size:.9em}pre{white-space:pre-wrap;max-width:300px}
svg.plot{width:100%;height:auto;max-width:760px;display:block}
.axis{stroke:#888}.grid{stroke:#eee}.zero{stroke:#555}.tick{font-size:11px;fill:#555}.label{font-size:12px;fill:#333}
circle.base{fill:#1f77b4;fill-opacity:.75}circle.custom{fill:#ff7f0e;fill-opacity:.75}.pair{stroke:#bbb}
line.mean{stroke-width:3}line.mean.base{stroke:#1f77b4}line.mean.custom{stroke:#ff7f0e}
rect.gain{fill:#2ca02c}rect.loss{fill:#d62728}rect.tie{fill:#999}rect.ci{fill:#1f77b4;fill-opacity:.15}
.mean-delta{stroke:#1f77b4;stroke-dasharray:4 3}
.heatmap .pair{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0;overflow-x:auto}
.token{font-size:12px;font-family:ui-monospace,monospace}.value{font-size:10px}.value.light{fill:#fff}.value.dark{fill:#222}
";

/// Shows the heatmap chosen in the selector (without scripts every heatmap but the first stays hidden, so the
/// selector is only emitted with this script).
const SCRIPT: &str = "
(function(){var s=document.getElementById('heatmap-select');if(!s)return;
s.addEventListener('change',function(){document.querySelectorAll('section.heatmap').forEach(function(e){
e.hidden=e.getAttribute('data-index')!==s.value;});});})();
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::comparison_from;
    use bertscore_engine::PairScore;

    fn heatmap(id: &str) -> ItemHeatmap {
        let side = |f1: f64| HeatmapSide {
            reference_index: 0,
            similarity: TokenSimilarity {
                candidate_tokens: vec!["a".into(), "<b>".into()],
                reference_tokens: vec!["a".into(), "c".into(), "d".into()],
                similarity: vec![vec![1.0, 0.2, 0.1], vec![0.3, 0.4, 0.5]],
                score: PairScore {
                    precision: f1,
                    recall: f1,
                    f1,
                },
            },
        };
        ItemHeatmap {
            id: id.into(),
            label: "chosen".into(),
            base: side(0.5),
            custom: side(0.6),
        }
    }

    #[test]
    fn page_has_every_section_and_escapes_text() {
        let mut c = comparison_from(&[("a", 0.5, 0.6), ("b<script>", 0.5, 0.3), ("c", 0.5, 0.9)]);
        c.items[0].base.text = "x < y & \"z\"".into();
        let page = render_html(&c, &[heatmap("a"), heatmap("c")]);
        for needle in [
            "id=\"verdict\"",
            "id=\"f1-distributions\"",
            "id=\"f1-deltas\"",
            "id=\"regressions\"",
            "id=\"gains\"",
            "id=\"heatmap-select\"",
            "b&lt;script&gt;",
            "&lt;b&gt;",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
        assert!(!page.contains("b<script>"));
        // Self-contained: nothing is fetched.
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
        // One bar per item, two dots per item, one cell per similarity in each of the 4 heatmaps.
        assert_eq!(page.matches("class=\"gain\"").count(), 2);
        assert_eq!(page.matches("class=\"loss\"").count(), 1);
        assert_eq!(page.matches("<circle").count(), 6);
        assert_eq!(page.matches("class=\"value ").count(), 4 * 6);
    }

    #[test]
    fn systems_page_shows_every_system_and_the_ranking() {
        use crate::multi::{Correction, SystemsItemComparison, statistics};
        use crate::{CompareSettings, ScoredText};
        let score = |f: f64| PairScore {
            precision: f,
            recall: f,
            f1: f,
        };
        let base = [0.5, 0.4, 0.6].map(score);
        let a = [0.6, 0.5, 0.7].map(score);
        let b = [0.55, 0.3, 0.6].map(score);
        let names = ["lr<1>".to_string(), "lr-2".to_string()];
        let mut c = statistics(
            &[&base, &a, &b],
            &names,
            &CompareSettings::default(),
            Correction::Holm,
        )
        .unwrap();
        c.items = (0..3)
            .map(|i| SystemsItemComparison {
                id: format!("item-{i}"),
                prompt: None,
                references: vec!["r".into()],
                base: ScoredText::new("b", base[i]),
                systems: vec![ScoredText::new("x", a[i]), ScoredText::new("y", b[i])],
            })
            .collect();
        let page = render_systems_html(&c);
        for needle in [
            "id=\"verdict\"",
            "id=\"systems\"",
            "id=\"system-deltas\"",
            "id=\"ranking\"",
            "id=\"best-vs-runner-up\"",
            "id=\"system-distributions\"",
            "id=\"disagreements\"",
            "<th>p (holm)</th>",
            "lr&lt;1&gt;",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
        assert!(!page.contains("lr<1>"));
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
        // Deltas: one dot per system; distributions: one dot per item for base and each system.
        assert_eq!(page.matches("<circle").count(), 2 + 3 * 3);
        assert_eq!(page.matches("<li>").count(), 2);
    }

    #[test]
    fn ticks_are_round_and_inside() {
        let t = ticks(0.12, 0.97);
        let expected = [0.2, 0.4, 0.6, 0.8];
        assert_eq!(t.len(), expected.len());
        assert!(
            t.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12),
            "{t:?}"
        );
        assert!(
            ticks(-0.05, 0.05)
                .iter()
                .all(|v| (-0.05..=0.05).contains(v))
        );
    }
}
