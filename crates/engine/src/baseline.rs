//! Baseline rescaling: bert_score's `rescale_baseline/LANG/MODEL.tsv` files (`LAYER,P,R,F`, one row per layer).
//!
//! bert_score reads a baseline with `pd.read_csv(path).iloc[num_layers]`: the data row at *position*
//! `num_layers` (not the row whose LAYER column says so), and rescales each of P, R, F as
//! `(x - b) / (1 - b)` after taking the maximum over multiple references. The files bert_score ships
//! are embedded in the library (see build.rs); custom files are read with [`Baseline::from_file`].

use std::path::{Path, PathBuf};

use crate::text_file::{LineLimit, read_bounded};
use crate::{EngineError, PairScore, Result};

include!(concat!(env!("OUT_DIR"), "/baselines.rs"));

/// The P, R and F baselines of one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// Baseline of precision.
    pub precision: f64,
    /// Baseline of recall.
    pub recall: f64,
    /// Baseline of F1.
    pub f1: f64,
}

impl Baseline {
    /// Reads the baseline of layer `num_layers` from a bert_score-format file.
    pub fn from_file(path: &Path, num_layers: usize) -> Result<Self> {
        let text = read_baseline_file(path)?;
        Self::parse(&text, path, num_layers)
    }

    /// Parses baseline file contents; `source` names the file in errors. Every row is checked, not
    /// only the one used, so a damaged file is reported rather than half-used.
    pub fn parse(text: &str, source: &Path, num_layers: usize) -> Result<Self> {
        BaselineTable::parse(text, source)?.layer(num_layers)
    }

    /// The baseline bert_score ships for `model` (as bert_score names it, e.g. `roberta-large` or
    /// `microsoft/deberta-xlarge-mnli`) on language `lang`, at layer `num_layers`; `None` when there
    /// is no such file (bert_score then warns and does not rescale).
    pub fn builtin(lang: &str, model: &str, num_layers: usize) -> Result<Option<Self>> {
        BaselineTable::builtin(lang, model)?
            .map(|table| table.layer(num_layers))
            .transpose()
    }

    /// The (language, model) pairs that have a built-in baseline.
    pub fn builtin_available() -> impl Iterator<Item = (&'static str, &'static str)> {
        BUILTIN_BASELINES.iter().map(|(l, m, _)| (*l, *m))
    }

    /// `(x - b) / (1 - b)` for each of P, R, F.
    pub fn rescale(&self, score: PairScore) -> PairScore {
        let rescale = |x: f64, b: f64| (x - b) / (1.0 - b);
        PairScore {
            precision: rescale(score.precision, self.precision),
            recall: rescale(score.recall, self.recall),
            f1: rescale(score.f1, self.f1),
        }
    }

    /// Rescales one similarity the way `plot_example` rescales its heatmap: with the F baseline.
    pub fn rescale_similarity(&self, similarity: f32) -> f32 {
        ((f64::from(similarity) - self.f1) / (1.0 - self.f1)) as f32
    }
}

/// Every row of a baseline file: bert_score's `all_layers=True` rescales layer `k` with row `k`.
#[derive(Debug, Clone)]
pub struct BaselineTable {
    source: PathBuf,
    /// (line, P, R, F) of each data row, in file order.
    rows: Vec<(usize, f64, f64, f64)>,
    /// The line a missing row would be on (for errors).
    end_line: usize,
}

impl BaselineTable {
    /// Reads a bert_score-format file (`LAYER,P,R,F`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = read_baseline_file(path)?;
        Self::parse(&text, path)
    }

    /// The file bert_score ships for `model` on language `lang`, if there is one.
    pub fn builtin(lang: &str, model: &str) -> Result<Option<Self>> {
        let Some((_, _, text)) = BUILTIN_BASELINES
            .iter()
            .find(|(l, m, _)| *l == lang && *m == model)
        else {
            return Ok(None);
        };
        let source = PathBuf::from(format!("rescale_baseline/{lang}/{model}.tsv"));
        Self::parse(text, &source).map(Some)
    }

    /// Parses file contents (`source` names the file in errors); every row is checked.
    pub fn parse(text: &str, source: &Path) -> Result<Self> {
        let error = |line: usize, message: String| EngineError::InvalidBaseline {
            path: source.to_path_buf(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((header_line, header)) = lines.next() else {
            return Err(error(
                1,
                "empty baseline file; expected a LAYER,P,R,F header".into(),
            ));
        };
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let column = |name: &str| {
            columns.iter().position(|c| *c == name).ok_or_else(|| {
                error(
                    header_line,
                    format!("header {header:?} lacks the column {name:?} (expected LAYER,P,R,F)"),
                )
            })
        };
        let (p_col, r_col, f_col) = (column("P")?, column("R")?, column("F")?);

        let mut rows = Vec::new();
        for (line, content) in lines {
            let fields: Vec<&str> = content.split(',').map(str::trim).collect();
            if fields.len() != columns.len() {
                return Err(error(
                    line,
                    format!("{} fields, the header has {}", fields.len(), columns.len()),
                ));
            }
            let value = |col: usize| -> Result<f64> {
                fields[col]
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        error(
                            line,
                            format!("{} value {:?} is not a number", columns[col], fields[col]),
                        )
                    })
            };
            rows.push((line, value(p_col)?, value(r_col)?, value(f_col)?));
        }
        Ok(Self {
            source: source.to_path_buf(),
            rows,
            end_line: text.lines().count() + 1,
        })
    }

    /// How many layer rows the file has.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the file has no layer row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The baseline of layer `num_layers`: the data row at that position, as bert_score reads it.
    pub fn layer(&self, num_layers: usize) -> Result<Baseline> {
        let error = |line: usize, message: String| EngineError::InvalidBaseline {
            path: self.source.clone(),
            line,
            message,
        };
        let Some(&(line, precision, recall, f1)) = self.rows.get(num_layers) else {
            return Err(error(
                self.end_line,
                format!(
                    "no row for layer {num_layers}: the file has {} layer rows",
                    self.rows.len()
                ),
            ));
        };
        let baseline = Baseline {
            // bert_score converts baselines to float32 before rescaling.
            precision: f64::from(precision as f32),
            recall: f64::from(recall as f32),
            f1: f64::from(f1 as f32),
        };
        for (name, b) in [
            ("P", baseline.precision),
            ("R", baseline.recall),
            ("F", baseline.f1),
        ] {
            if b == 1.0 {
                return Err(error(
                    line,
                    format!("{name} baseline is 1: rescaling would divide by zero"),
                ));
            }
        }
        Ok(baseline)
    }

    /// Writes per-layer mean scores (index = layer) in bert_score's format: a `LAYER,P,R,F`
    /// header, then one row per layer.
    pub fn format(layers: &[PairScore]) -> String {
        let mut out = String::from("LAYER,P,R,F\n");
        for (layer, s) in layers.iter().enumerate() {
            out.push_str(&format!("{layer},{},{},{}\n", s.precision, s.recall, s.f1));
        }
        out
    }
}

/// A baseline file's text: a regular file of at most the default line limit (it has a few dozen short lines).
fn read_baseline_file(path: &Path) -> Result<String> {
    let bytes = read_bounded(path, LineLimit::default())?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        EngineError::InvalidBaseline {
            path: path.to_path_buf(),
            line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
            message: "invalid UTF-8".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "LAYER,P,R,F\n0,0.1,0.2,0.3\n1,0.4,0.5,0.6\n";

    #[test]
    fn reads_the_row_at_position_num_layers() {
        let b = Baseline::parse(FILE, Path::new("x.tsv"), 1).unwrap();
        assert_eq!(b.precision, f64::from(0.4f32));
        assert_eq!(b.recall, f64::from(0.5f32));
        assert_eq!(b.f1, f64::from(0.6f32));
    }

    #[test]
    fn bad_value_names_file_and_line() {
        let err = Baseline::parse(
            "LAYER,P,R,F\n0,0.1,0.2,0.3\n1,0.4,oops,0.6\n",
            Path::new("b.tsv"),
            0,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "b.tsv:3: R value \"oops\" is not a number");
    }

    #[test]
    fn missing_layer_is_an_error() {
        let err = Baseline::parse(FILE, Path::new("b.tsv"), 2).unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidBaseline { line: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_header_is_an_error() {
        let err = Baseline::parse("LAYER,X,R,F\n0,1,2,3\n", Path::new("b.tsv"), 0).unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidBaseline { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn builtin_files_are_embedded() {
        let b = Baseline::builtin("en", "roberta-large", 17)
            .unwrap()
            .expect("roberta-large baseline");
        assert!(b.f1 > 0.5 && b.f1 < 1.0, "{b:?}");
        assert!(
            Baseline::builtin("en", "microsoft/deberta-xlarge-mnli", 40)
                .unwrap()
                .is_some()
        );
        assert!(
            Baseline::builtin("en", "no-such-model", 1)
                .unwrap()
                .is_none()
        );
        assert!(Baseline::builtin_available().count() >= 70);
    }

    #[test]
    fn a_table_holds_every_row_and_round_trips() {
        let table = BaselineTable::parse(FILE, Path::new("x.tsv")).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(
            table.layer(1).unwrap(),
            Baseline::parse(FILE, Path::new("x.tsv"), 1).unwrap()
        );
        let rows = [
            PairScore {
                precision: 0.25,
                recall: 0.5,
                f1: 0.125,
            },
            PairScore {
                precision: 0.75,
                recall: 0.0625,
                f1: 1.5,
            },
        ];
        let text = BaselineTable::format(&rows);
        assert_eq!(text, "LAYER,P,R,F\n0,0.25,0.5,0.125\n1,0.75,0.0625,1.5\n");
        let back = BaselineTable::parse(&text, Path::new("y.tsv")).unwrap();
        assert_eq!(back.layer(0).unwrap().recall, 0.5);
        assert!(matches!(
            back.layer(2),
            Err(EngineError::InvalidBaseline { line: 4, .. })
        ));
    }

    #[test]
    fn rescale_is_affine() {
        let b = Baseline {
            precision: 0.5,
            recall: 0.8,
            f1: 0.0,
        };
        let s = b.rescale(PairScore {
            precision: 0.75,
            recall: 0.9,
            f1: 0.3,
        });
        assert!((s.precision - 0.5).abs() < 1e-12);
        assert!((s.recall - 0.5).abs() < 1e-12);
        assert!((s.f1 - 0.3).abs() < 1e-12);
    }
}
