//! Baseline rescaling: bert_score's `rescale_baseline/LANG/MODEL.tsv` files (`LAYER,P,R,F`, one row per layer).

/// The P, R and F baselines of one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}
