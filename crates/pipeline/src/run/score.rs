//! Step `score`: both models' outputs scored with BERTScore against the references, and the paired statistics
//! that decide the verdict ([`bertscore_compare::compare`]). Only items both models answered are scored; the run
//! fails rather than score a biased subset when too many are missing.

use serde_json::json;

use super::{COMPARISON_FILE, Pipeline, StepResult, to_json};
use crate::config::ScoringConfig;
use crate::error::{PipelineError, Result};
use crate::journal::{Outcome, StepStatus};
use crate::naming::keys;

/// Resolves and loads the scoring model as configured (idf over `idf_corpus` when `idf` is on). Blocking.
pub(crate) fn load_scorer(
    scoring: &ScoringConfig,
    idf_corpus: Vec<String>,
) -> Result<bertscore_engine::Scorer> {
    let spec = scoring.model_spec();
    let model = bertscore_hub::resolve(&spec).map_err(|source| PipelineError::ScoringModel {
        model: spec.clone(),
        source: Box::new(source),
    })?;
    let loading = |source| PipelineError::Scoring {
        context: format!("loading {spec}"),
        source: Box::new(source),
    };
    let options = scoring
        .scorer
        .scorer_options(&model.dir, &model.name, Some(idf_corpus))
        .map_err(loading)?;
    bertscore_engine::Scorer::new(options).map_err(loading)
}

fn score_items(
    scoring: &ScoringConfig,
    items: &[bertscore_compare::Item],
) -> Result<bertscore_compare::Comparison> {
    let scorer = load_scorer(scoring, bertscore_compare::idf_corpus(items))?;
    bertscore_compare::compare(&scorer, items, &scoring.statistics)
        .map_err(|e| PipelineError::Compare(e.to_string()))
}

impl Pipeline {
    pub(super) async fn score(&mut self) -> StepResult {
        let items = self.items()?;
        let (base, custom) = self.outputs()?;
        let mut compare_items = Vec::new();
        let mut failed_items = Vec::new();
        for ((item, b), c) in items.iter().zip(&base).zip(&custom) {
            match (&b.completion, &c.completion) {
                (Some(base_text), Some(custom_text)) if b.id == item.id && c.id == item.id => {
                    compare_items.push(bertscore_compare::Item {
                        id: item.id.clone(),
                        prompt: Some(item.prompt.clone()),
                        base: base_text.clone(),
                        custom: custom_text.clone(),
                        references: item.references.clone(),
                    })
                }
                _ => failed_items.push(item.id.clone()),
            }
        }
        let total = items.len();
        let failed_fraction = failed_items.len() as f64 / total.max(1) as f64;
        let limit = self.config.inference.max_failure_fraction;
        if compare_items.is_empty() || failed_fraction > limit {
            return Err(PipelineError::Inference(format!(
                "{} of {total} items lack an output from the base or the custom model ({:.0}% > the {:.0}% allowed by \
                 inference.max_failure_fraction); not scoring a biased subset. Failed items: {}",
                failed_items.len(),
                failed_fraction * 100.0,
                limit * 100.0,
                failed_items.join(", ")
            )));
        }
        let scoring = self.config.scoring.clone();
        let statistics = &scoring.statistics;
        self.aws.note(&format!(
            "BERTScore with {} on {} items both models answered (bootstrap {}, permutations {}, margin {}, alpha {})",
            scoring.model_spec(),
            compare_items.len(),
            statistics.bootstrap,
            statistics.permutations,
            statistics.margin,
            statistics.alpha
        ));
        let comparison = tokio::task::spawn_blocking(move || score_items(&scoring, &compare_items))
            .await
            .map_err(|e| PipelineError::Run(format!("the scoring task failed: {e}")))??;
        let bytes = to_json(&comparison);
        self.run.write_file(COMPARISON_FILE, &bytes)?;
        let stats = &comparison.statistics;
        let outcome = Outcome {
            verdict: stats.verdict,
            items: total,
            scored: stats.n,
            failed_items,
            base_f1: stats.base.f1,
            custom_f1: stats.custom.f1,
            delta_f1: stats.delta_f1,
            ci95: stats.ci95,
            p_value: stats.p_value,
            wins: stats.wins,
            losses: stats.losses,
            ties: stats.ties,
            settings: comparison.settings.clone(),
        };
        let detail = json!({ "verdict": outcome.verdict, "delta_f1": outcome.delta_f1, "p_value": outcome.p_value, "scored": outcome.scored });
        self.run.state.outcome = Some(outcome);
        self.run.touch()?;
        let key = self.config.s3.key(self.run_id(), keys::COMPARISON);
        let bucket = self.config.s3.inference_bucket().to_string();
        self.aws
            .put_object(&bucket, &key, bytes, "application/json")
            .await?;
        self.record_object("comparison", &bucket, &key);
        Ok((StepStatus::Finished, detail))
    }
}
