//! Step `validate`: everything a run needs is checked before its first AWS call, so a mistake costs nothing:
//! the config (scoring and statistics settings included), the training data line by line, the evaluation
//! prompts and references, and the scoring model, resolved and loaded.

use serde_json::json;

use super::{ITEMS_FILE, Pipeline, StepResult, to_json};
use crate::data;
use crate::journal::StepStatus;

impl Pipeline {
    pub(super) async fn validate(&mut self) -> StepResult {
        self.config.validate(&self.run.path("config.json"))?;
        let summary = data::validate_training_data(&self.config.data.training)?;
        if let Some(path) = &self.config.data.job_validation {
            data::validate_training_data(path)?;
        }
        let items =
            data::load_eval_items(&self.config.data.validation, &self.config.data.references)?;
        // The model is loaded now, not hours later at the score step after the billed work.
        let scoring = self.config.scoring.clone();
        let references: Vec<String> = items
            .iter()
            .flat_map(|item| item.references.iter().cloned())
            .collect();
        let model = tokio::task::spawn_blocking(move || {
            super::load_scorer(&scoring, references).map(|scorer| scorer.hash())
        })
        .await
        .map_err(|e| crate::error::PipelineError::Run(format!("the model check failed: {e}")))??;
        self.run.write_file(ITEMS_FILE, &to_json(&items))?;
        Ok((
            StepStatus::Finished,
            json!({
                "training_records": summary.records,
                "training_sha256": summary.sha256,
                "items": items.len(),
                "scoring_model": model,
            }),
        ))
    }
}
