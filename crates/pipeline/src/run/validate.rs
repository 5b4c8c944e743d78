//! Step `validate`: everything a run needs is checked before its first AWS call, so a mistake costs nothing:
//! the config (scoring and statistics settings included), the training data line by line against the target
//! family's format and quotas (converted to that format when it differs: the converted file, in the run
//! directory, is what `upload` sends), the evaluation prompts and references, the inference path (a batch job
//! or on-demand calls), and the scoring model, resolved and loaded.

use serde_json::json;

use super::{ITEMS_FILE, Pipeline, StepResult, to_json};
use crate::batch::{self, InferencePath};
use crate::data;
use crate::error::PipelineError;
use crate::journal::StepStatus;
use crate::training::{self, DataRole, FamilyRules};

/// The training data converted to the family's format (absent when the file is uploaded as it is).
pub(super) const CONVERTED_TRAINING: &str = "training-data.jsonl";
/// The job validation data converted to the family's format.
pub(super) const CONVERTED_JOB_VALIDATION: &str = "job-validation.jsonl";

impl Pipeline {
    pub(super) async fn validate(&mut self) -> StepResult {
        let origin = self.run.path("config.json");
        self.config.validate(&origin)?;
        let rules = FamilyRules::for_model(&self.config.customization.base_model_id);
        let system = self.config.customization.system_prompt.clone();
        let mut files = vec![(
            DataRole::Training,
            self.config.data.training.clone(),
            CONVERTED_TRAINING,
        )];
        if let Some(path) = &self.config.data.job_validation {
            files.push((
                DataRole::JobValidation,
                path.clone(),
                CONVERTED_JOB_VALIDATION,
            ));
        }
        let mut prepared = Vec::new();
        for (role, path, converted_name) in files {
            let file = training::prepare(&path, role, &rules, system.as_deref())?;
            let converted = self.run.path(converted_name);
            if file.converted {
                self.run.write_file(converted_name, &file.upload)?;
            } else if converted.exists() {
                std::fs::remove_file(&converted).map_err(|e| PipelineError::io(&converted, e))?;
            }
            prepared.push((file, converted));
        }
        let items =
            data::load_eval_items(&self.config.data.validation, &self.config.data.references)?;
        let path = batch::choose(&self.config, items.len())
            .map_err(|message| PipelineError::config(&origin, message))?;
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
        .map_err(|e| PipelineError::Run(format!("the model check failed: {e}")))??;
        self.run.write_file(ITEMS_FILE, &to_json(&items))?;
        let (training, converted) = &prepared[0];
        self.aws.note(&format!(
            "{} training records ({}, {}; {} fine-tuning takes {}), {} evaluation items",
            training.records,
            self.config.data.training.display(),
            training.source_format.name(),
            rules.family,
            training.target_format.name(),
            items.len()
        ));
        if training.converted {
            let mut first = training.first_record().to_string();
            if first.chars().count() > 300 {
                first = first.chars().take(300).collect::<String>() + "...";
            }
            self.aws.note(&format!(
                "{} records to {}{} → the run directory's {CONVERTED_TRAINING} (uploaded instead of the file); \
                 first record: {first}",
                training.records,
                training.target_format.name(),
                if system.is_some() {
                    " with customization.system_prompt as the system turn"
                } else {
                    ""
                },
            ));
        }
        for (file, _) in &prepared {
            for warning in &file.warnings {
                self.aws.note(&format!("warning: {warning}"));
                tracing::warn!("{warning}");
                self.run.state.notes.push(warning.clone());
            }
        }
        Ok((
            StepStatus::Finished,
            json!({
                "training_records": training.records,
                "training_sha256": training.source_sha256,
                "training_family": rules.family,
                "training_format": training.source_format.name(),
                "uploaded_format": training.target_format.name(),
                "converted_training": training.converted.then(|| converted.display().to_string()),
                "uploaded_sha256": training.upload_sha256(),
                "items": items.len(),
                "base_inference": match &path {
                    InferencePath::Batch => "batch".to_string(),
                    InferencePath::OnDemand { reason } => format!("on-demand ({reason})"),
                },
                "scoring_model": model,
            }),
        ))
    }
}
