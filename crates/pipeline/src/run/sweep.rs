//! A sweep's steps (`[sweep]`, see [`crate::sweep`]):
//!
//! | step | what |
//! |---|---|
//! | `train-candidates` | one customization job per candidate, at most `max_concurrent_jobs` running, until each ends |
//! | `base-inference` | the base model on every prompt, once |
//! | `evaluate-candidates` | each trained candidate in turn: served, its outputs scored against the base, its serving deleted at once unless it is the best so far (at most two servings billed at any time) |
//! | `decide` | the N-way comparison ([`bertscore_compare::compare_systems`], corrected p-values); the best candidate's serving kept only if it beats the base, everything else deleted |
//!
//! Each candidate's job and serving are journaled before their create calls with names and client request tokens
//! of their own, so `resume` after a crash re-uses them and never creates one twice. A candidate whose job fails
//! (or is refused) is recorded and the sweep goes on with the others.

use bertscore_compare::{Item, SystemsItem, Verdict};
use serde_json::{Value, json};

use super::fine_tune::{JobRequest, send_job};
use super::infer::outputs_jsonl;
use super::{BASE_OUTPUTS_FILE, Pipeline, StepResult, to_json};
use crate::data::EvalItem;
use crate::error::{PipelineError, Result};
use crate::inference::{self, ItemOutput, Target};
use crate::journal::{Outcome, Step, StepStatus};
use crate::naming::ResourceNames;
use crate::poll::Poller;
use crate::serving::{self, ServingRecord};
use crate::sweep::{
    CandidateRecord, CandidateScore, RankingRow, SweepResult, SweepState, job_token, serving_scope,
};

/// The run-directory file of candidate `id`'s outputs.
fn outputs_file(id: &str) -> String {
    format!("candidate-{id}-outputs.json")
}

/// The N-way comparison of the evaluated candidates.
const SWEEP_COMPARISON_FILE: &str = "sweep-comparison.json";

impl Pipeline {
    /// Gives a sweep run its candidates (names and tokens fixed before anything is created). Idempotent.
    pub(super) fn init_sweep(&mut self) -> Result<()> {
        let Some(sweep) = &self.config.sweep else {
            return Ok(());
        };
        if self.run.state.sweep.is_some() {
            return Ok(());
        }
        let candidates = sweep
            .expand(&self.config.customization.hyper_parameters)
            .map_err(|message| PipelineError::config(self.run.path("config.json"), message))?;
        let names = ResourceNames::of(&self.config, self.run_id());
        self.run.state.sweep = Some(SweepState::new(&candidates, &names));
        self.run.touch()
    }

    fn sweep_state(&self) -> Result<&SweepState> {
        self.run
            .state
            .sweep
            .as_ref()
            .ok_or_else(|| PipelineError::Run("the run has no sweep state".into()))
    }

    fn candidate_mut(&mut self, index: usize) -> &mut CandidateRecord {
        &mut self
            .run
            .state
            .sweep
            .as_mut()
            .expect("sweep steps run only with a sweep state")
            .candidates[index]
    }

    fn candidate(&self, index: usize) -> &CandidateRecord {
        &self
            .run
            .state
            .sweep
            .as_ref()
            .expect("sweep steps run only with a sweep state")
            .candidates[index]
    }

    /// Step `train-candidates`: starts jobs while fewer than `max_concurrent_jobs` run, polls the running ones,
    /// until every candidate's job has ended. Fails only when no candidate trained.
    pub(super) async fn train_candidates(&mut self) -> StepResult {
        let sweep = self.config.sweep.clone().unwrap_or_default();
        let count = self.sweep_state()?.candidates.len();
        let waves = count.div_ceil(sweep.max_concurrent_jobs).max(1) as f64;
        let mut poller = Poller::new(
            self.aws.as_ref(),
            &self.config.polling,
            self.config.polling.job_timeout_s * waves,
        );
        loop {
            for index in 0..count {
                let c = self.candidate(index);
                if c.job_requested && !c.job_ended() {
                    self.refresh_job(index).await?;
                }
            }
            let running = |p: &Self| {
                (0..count)
                    .filter(|&i| p.candidate(i).job_requested && !p.candidate(i).job_ended())
                    .count()
            };
            let mut index = 0;
            while running(self) < sweep.max_concurrent_jobs && index < count {
                if !self.candidate(index).job_requested {
                    self.create_candidate_job(index).await?;
                }
                index += 1;
            }
            let state = self.sweep_state()?;
            if state.candidates.iter().all(CandidateRecord::job_ended) {
                break;
            }
            let waiting: Vec<String> = state
                .candidates
                .iter()
                .filter(|c| c.job_requested && !c.job_ended())
                .map(|c| c.id.clone())
                .collect();
            poller
                .wait(|| {
                    format!(
                        "the sweep's customization jobs ({} running)",
                        waiting.join(", ")
                    )
                })
                .await?;
        }
        let state = self.sweep_state()?;
        let detail: Value = state
            .candidates
            .iter()
            .map(|c| (c.id.clone(), json!(c.job_status)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        if !state.candidates.iter().any(CandidateRecord::trained) {
            let failures: Vec<String> = state
                .candidates
                .iter()
                .map(|c| {
                    format!(
                        "{} {}: {}",
                        c.id,
                        c.job_status.as_deref().unwrap_or("-"),
                        c.job_failure.as_deref().unwrap_or("no failure message")
                    )
                })
                .collect();
            return Err(PipelineError::Resource(format!(
                "no candidate of the sweep trained: {}",
                failures.join("; ")
            )));
        }
        Ok((StepStatus::Finished, detail))
    }

    /// Creates candidate `index`'s job (journaled first; the token makes a repeat after a crash the same job).
    /// A refused request (ValidationException: e.g. a hyper-parameter value out of range) is the candidate's
    /// failure, not the sweep's.
    async fn create_candidate_job(&mut self, index: usize) -> Result<()> {
        let run_id = self.run_id().to_string();
        let candidate = self.candidate(index).clone();
        self.candidate_mut(index).job_requested = true;
        self.run.touch()?;
        self.run.log(
            Some(Step::TrainCandidates),
            "candidate-job-requested",
            json!({ "candidate": candidate.id, "job_name": candidate.job_name, "hyper_parameters": candidate.hyper_parameters }),
        )?;
        let output_uri = format!(
            "s3://{}/{}",
            self.config.s3.output_bucket(),
            self.config
                .s3
                .key(&run_id, &format!("job-output/{}/", candidate.id))
        );
        let request = JobRequest {
            job_name: &candidate.job_name,
            custom_model_name: &candidate.custom_model_name,
            client_request_token: job_token(&run_id, &candidate.id),
            hyper_parameters: &candidate.hyper_parameters,
            output_uri,
        };
        let objects = self.run.state.resources.objects.clone();
        match send_job(self.aws.as_ref(), &self.config, &objects, &request).await {
            Ok(arn) => {
                let c = self.candidate_mut(index);
                c.job_arn = Some(arn.clone());
                c.job_status = Some("InProgress".into());
                self.run.touch()?;
                self.run.log(
                    Some(Step::TrainCandidates),
                    "candidate-job-created",
                    json!({ "candidate": candidate.id, "job_arn": arn }),
                )?;
            }
            Err(PipelineError::Aws(failure))
                if failure.code.as_deref() == Some("ValidationException") =>
            {
                let failure = PipelineError::Aws(failure);
                let c = self.candidate_mut(index);
                c.job_status = Some("Rejected".into());
                c.job_failure = Some(failure.describe());
                self.run.touch()?;
                self.run.log(
                    Some(Step::TrainCandidates),
                    "candidate-job-refused",
                    json!({ "candidate": candidate.id, "error": failure.describe() }),
                )?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Reads candidate `index`'s job status. A job requested but unknown to Bedrock (the process died before
    /// the call went out) is requested again with the same token.
    async fn refresh_job(&mut self, index: usize) -> Result<()> {
        let candidate = self.candidate(index).clone();
        let job = match self
            .aws
            .customization_job(&candidate.job_identifier())
            .await
        {
            Ok(job) => job,
            Err(e) if candidate.job_arn.is_none() && e.is_not_found() => {
                return self.create_candidate_job(index).await;
            }
            Err(e) => return Err(e),
        };
        let status = Some(job.status.clone());
        let changed = candidate.job_status != status || candidate.job_arn.is_none();
        {
            let c = self.candidate_mut(index);
            c.job_status = status.clone();
            c.job_arn = Some(job.arn.clone());
        }
        match job.status.as_str() {
            "Completed" => {
                let model = job.output_model_arn.clone().ok_or_else(|| {
                    PipelineError::Resource(format!(
                        "job {} completed without an output model ARN",
                        candidate.job_name
                    ))
                })?;
                self.candidate_mut(index).custom_model_arn = Some(model);
            }
            "Failed" | "Stopped" => {
                self.candidate_mut(index).job_failure = Some(
                    job.failure
                        .clone()
                        .unwrap_or_else(|| "no failure message".to_string()),
                );
            }
            _ => {}
        }
        if changed {
            self.run.touch()?;
            if self.candidate(index).job_ended() {
                self.run.log(
                    Some(Step::TrainCandidates),
                    "candidate-job-ended",
                    json!({ "candidate": candidate.id, "status": status, "failure": self.candidate(index).job_failure }),
                )?;
            }
        }
        Ok(())
    }

    /// Step `base-inference`: the base model on every prompt, once for every candidate.
    pub(super) async fn base_inference(&mut self) -> StepResult {
        let items = self.items()?;
        // On demand or as a batch job, as the single run's inference step chooses.
        let (outputs, mut detail) = self.run_base(&items).await?;
        let failed = outputs.iter().filter(|o| o.completion.is_none()).count();
        self.run.write_file(BASE_OUTPUTS_FILE, &to_json(&outputs))?;
        let bucket = self.config.s3.inference_bucket().to_string();
        let key = self
            .config
            .s3
            .key(self.run_id(), crate::naming::keys::BASE_OUTPUTS);
        self.aws
            .put_object(
                &bucket,
                &key,
                outputs_jsonl(&items, &outputs).into_bytes(),
                "application/x-ndjson",
            )
            .await?;
        self.record_object("base-outputs", &bucket, &key);
        if let Value::Object(map) = &mut detail {
            map.insert("items".into(), json!(items.len()));
            map.insert("base_failed".into(), json!(failed));
        }
        Ok((StepStatus::Finished, detail))
    }

    /// Step `evaluate-candidates`: each trained candidate not yet evaluated, in order: served, run on every
    /// prompt, scored against the base; its serving deleted at once unless it is the best so far (then the
    /// previous best's is). Before a serving is created, every other serving but the best so far's is gone: at
    /// most two are billed at any time, even after a crash.
    pub(super) async fn evaluate_candidates(&mut self) -> StepResult {
        let items = self.items()?;
        let base: Vec<ItemOutput> = self.read_json(BASE_OUTPUTS_FILE)?;
        let count = self.sweep_state()?.candidates.len();
        self.recount_best_so_far()?;
        for index in 0..count {
            let c = self.candidate(index);
            if !c.trained() || c.score.is_some() || c.evaluation_failure.is_some() {
                continue;
            }
            // A serving left by an interruption for this candidate is reused, any other but the best's deleted.
            self.delete_servings_except_best(Some(index)).await?;
            match self.evaluate_candidate(index, &items, &base).await? {
                Ok(score) => {
                    let id = self.candidate(index).id.clone();
                    self.candidate_mut(index).score = Some(score.clone());
                    self.run.touch()?;
                    self.run.log(
                        Some(Step::EvaluateCandidates),
                        "candidate-evaluated",
                        json!({ "candidate": id, "f1": score.f1, "delta_f1": score.delta_f1, "p_value": score.p_value }),
                    )?;
                    self.keep_if_best(index).await?;
                }
                Err(failure) => {
                    let id = self.candidate(index).id.clone();
                    self.candidate_mut(index).evaluation_failure = Some(failure.clone());
                    self.run.touch()?;
                    self.run.log(
                        Some(Step::EvaluateCandidates),
                        "candidate-evaluation-failed",
                        json!({ "candidate": id, "error": failure }),
                    )?;
                    self.delete_candidate_serving(index, Step::EvaluateCandidates)
                        .await?;
                }
            }
        }
        let state = self.sweep_state()?;
        let evaluated: Vec<String> = state
            .candidates
            .iter()
            .filter(|c| c.score.is_some())
            .map(|c| c.id.clone())
            .collect();
        if evaluated.is_empty() {
            return Err(PipelineError::Inference(format!(
                "no candidate of the sweep could be evaluated: {}",
                state
                    .candidates
                    .iter()
                    .filter_map(|c| c
                        .evaluation_failure
                        .as_ref()
                        .map(|f| format!("{}: {f}", c.id)))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        Ok((
            StepStatus::Finished,
            json!({ "evaluated": evaluated, "best_so_far": state.best_so_far }),
        ))
    }

    /// Serves, runs and scores candidate `index`. `Ok(Err(why))`: the candidate cannot be evaluated (its
    /// serving failed, or too many prompts failed), and the sweep goes on; `Err`: the step fails (resumable).
    async fn evaluate_candidate(
        &mut self,
        index: usize,
        items: &[EvalItem],
        base: &[ItemOutput],
    ) -> Result<std::result::Result<CandidateScore, String>> {
        let id = self.candidate(index).id.clone();
        let outputs_name = outputs_file(&id);
        let outputs: Vec<ItemOutput> = if self.run.path(&outputs_name).is_file() {
            // Inference finished before an interruption: not run (or billed) again.
            self.read_json(&outputs_name)?
        } else {
            if let Err(why) = self
                .serve_candidate(index, Step::EvaluateCandidates)
                .await?
            {
                return Ok(Err(why));
            }
            let target = Target {
                label: "custom",
                model_id: self.candidate(index).serving.identifier().to_string(),
                adapter: self.config.customization.adapter(),
                system: self.config.customization.system_prompt.clone(),
            };
            let outputs =
                inference::run_all(&self.aws, &target, items, &self.config.inference).await;
            self.run.write_file(&outputs_name, &to_json(&outputs))?;
            let bucket = self.config.s3.inference_bucket().to_string();
            let key = self
                .config
                .s3
                .key(self.run_id(), &format!("outputs/candidates/{id}.jsonl"));
            self.aws
                .put_object(
                    &bucket,
                    &key,
                    outputs_jsonl(items, &outputs).into_bytes(),
                    "application/x-ndjson",
                )
                .await?;
            self.record_object(&format!("{id}-outputs"), &bucket, &key);
            outputs
        };
        let mut pairs = Vec::new();
        let mut failed_items = Vec::new();
        for ((item, b), c) in items.iter().zip(base).zip(&outputs) {
            match (&b.completion, &c.completion) {
                (Some(base_text), Some(text)) => pairs.push(Item {
                    id: item.id.clone(),
                    prompt: Some(item.prompt.clone()),
                    base: base_text.clone(),
                    custom: text.clone(),
                    references: item.references.clone(),
                }),
                _ => failed_items.push(item.id.clone()),
            }
        }
        let fraction = failed_items.len() as f64 / items.len().max(1) as f64;
        let limit = self.config.inference.max_failure_fraction;
        if pairs.is_empty() || fraction > limit {
            return Ok(Err(format!(
                "{} of {} items lack an output from the base or from {id} ({:.0}% > the {:.0}% allowed by \
                 inference.max_failure_fraction)",
                failed_items.len(),
                items.len(),
                fraction * 100.0,
                limit * 100.0
            )));
        }
        let scoring = self.config.scoring.clone();
        let comparison = tokio::task::spawn_blocking(move || {
            let scorer = super::load_scorer(&scoring, bertscore_compare::idf_corpus(&pairs))?;
            bertscore_compare::compare(&scorer, &pairs, &scoring.statistics)
                .map_err(|e| PipelineError::Compare(e.to_string()))
        })
        .await
        .map_err(|e| PipelineError::Run(format!("the scoring task failed: {e}")))??;
        let stats = &comparison.statistics;
        Ok(Ok(CandidateScore {
            scored: stats.n,
            failed_items,
            f1: stats.custom.f1,
            base_f1: stats.base.f1,
            delta_f1: stats.delta_f1,
            ci95: stats.ci95,
            p_value: stats.p_value,
            wins_losses_ties: [stats.wins, stats.losses, stats.ties],
            verdict: stats.verdict,
        }))
    }

    /// Sets the best so far from the recorded scores (highest F1, the earlier on a tie): after an interruption
    /// between a candidate's score and its journaled promotion, the candidate is still recognised as the best.
    fn recount_best_so_far(&mut self) -> Result<()> {
        let state = self.sweep_state()?;
        let mut best: Option<(&str, f64)> = None;
        for c in &state.candidates {
            if let Some(score) = &c.score
                && best.is_none_or(|(_, f1)| score.f1 > f1)
            {
                best = Some((&c.id, score.f1));
            }
        }
        let best = best.map(|(id, _)| id.to_string());
        if best.is_some() && best != state.best_so_far {
            if let Some(sweep) = self.run.state.sweep.as_mut() {
                sweep.best_so_far = best.clone();
            }
            self.run.touch()?;
            self.run.log(
                Some(Step::EvaluateCandidates),
                "best-so-far",
                json!({ "candidate": best, "recounted": true }),
            )?;
        }
        Ok(())
    }

    /// The best so far keeps its serving; otherwise the previous best loses its serving and this one takes its
    /// place. The new best is journaled before the old one's serving is deleted.
    async fn keep_if_best(&mut self, index: usize) -> Result<()> {
        let state = self.sweep_state()?;
        let this = self.candidate(index);
        let f1 = this.score.as_ref().map_or(f64::NEG_INFINITY, |s| s.f1);
        let previous = state.best_so_far.clone();
        let best_f1 = previous
            .as_deref()
            .and_then(|id| state.candidate(id))
            .and_then(|c| c.score.as_ref())
            .map_or(f64::NEG_INFINITY, |s| s.f1);
        if f1 > best_f1 {
            let id = this.id.clone();
            if let Some(sweep) = self.run.state.sweep.as_mut() {
                sweep.best_so_far = Some(id.clone());
            }
            self.run.touch()?;
            self.run.log(
                Some(Step::EvaluateCandidates),
                "best-so-far",
                json!({ "candidate": id, "f1": f1, "previous": previous }),
            )?;
            self.delete_servings_except_best(None).await
        } else {
            self.delete_candidate_serving(index, Step::EvaluateCandidates)
                .await
                .map(drop)
        }
    }

    /// Deletes every live candidate serving but the best so far's and `keep`'s.
    async fn delete_servings_except_best(&mut self, keep: Option<usize>) -> Result<()> {
        let state = self.sweep_state()?;
        let best = state.best_so_far.clone();
        let doomed: Vec<usize> = (0..state.candidates.len())
            .filter(|&i| {
                let c = &state.candidates[i];
                c.serving.may_exist() && Some(&c.id) != best.as_ref() && Some(i) != keep
            })
            .collect();
        for index in doomed {
            self.delete_candidate_serving(index, Step::EvaluateCandidates)
                .await?;
        }
        Ok(())
    }

    /// Creates (or finds again) candidate `index`'s serving ([`crate::serving`]: provisioned throughput or
    /// on-demand deployment, as `[serving] mode` resolves) and waits until it serves. `Ok(Err(why))` when it
    /// ended Failed (the candidate is skipped; its serving is deleted by the caller).
    async fn serve_candidate(
        &mut self,
        index: usize,
        step: Step,
    ) -> Result<std::result::Result<(), String>> {
        let run_id = self.run_id().to_string();
        let candidate = self.candidate(index).clone();
        let model_arn = candidate
            .custom_model_arn
            .clone()
            .ok_or_else(|| PipelineError::Run(format!("{}: no custom model ARN", candidate.id)))?;
        let mut record = candidate.serving.clone();
        if record.deleted {
            // Deleted by a failure before this candidate was evaluated: created again under a new token.
            record.recreate();
        }
        if record.arn.is_none() {
            let token = record.token(&serving_scope(&run_id, &candidate.id));
            self.run.log(
                Some(step),
                "billed-resource-requested",
                json!({ "candidate": candidate.id, "kind": record.kind, "name": record.name, "client_request_token": token }),
            )?;
            let aws = self.aws.clone();
            let config = self.config.clone();
            serving::create(
                aws.as_ref(),
                &config,
                &mut record,
                &model_arn,
                &token,
                &mut |r| self.save_serving(index, r),
            )
            .await?;
            self.run.log(
                Some(step),
                "billed-resource-created",
                json!({ "candidate": candidate.id, "arn": record.arn }),
            )?;
        }
        let aws = self.aws.clone();
        let config = self.config.clone();
        let waited = serving::wait(aws.as_ref(), &config, &mut record, &mut |r| {
            self.save_serving(index, r)
        })
        .await;
        match waited {
            Ok(()) => Ok(Ok(())),
            Err(e) if record.failure.is_some() => Ok(Err(e.describe())),
            Err(e) => Err(e),
        }
    }

    /// Saves candidate `index`'s serving record (the callback of [`crate::serving`]'s functions).
    fn save_serving(&mut self, index: usize, record: &ServingRecord) -> Result<()> {
        self.candidate_mut(index).serving = record.clone();
        self.run.touch()
    }

    /// Deletes candidate `index`'s serving if it may exist; `true` when it existed.
    async fn delete_candidate_serving(&mut self, index: usize, step: Step) -> Result<bool> {
        let candidate = self.candidate(index).clone();
        if !candidate.serving.may_exist() {
            return Ok(false);
        }
        let mut record = candidate.serving.clone();
        let identifier = record.identifier().to_string();
        let aws = self.aws.clone();
        let existed = serving::delete(aws.as_ref(), &mut record, &mut |r| {
            self.save_serving(index, r)
        })
        .await?;
        // Gone either way: deleted now, or never created (the create call did not go through).
        record.deleted = true;
        self.save_serving(index, &record)?;
        self.run.log(
            Some(step),
            serving::deletion_event(existed),
            json!({ "candidate": candidate.id, "kind": record.kind, "serving": identifier }),
        )?;
        Ok(existed)
    }

    /// Deletes candidate `index`'s custom model (after its serving); `true` when it existed.
    async fn delete_candidate_model(&mut self, index: usize, step: Step) -> Result<bool> {
        let candidate = self.candidate(index).clone();
        let Some(arn) = candidate.custom_model_arn.clone() else {
            return Ok(false);
        };
        if candidate.custom_model_deleted {
            return Ok(false);
        }
        let existed = serving::delete_custom_model(self.aws.as_ref(), &arn).await?;
        self.candidate_mut(index).custom_model_deleted = true;
        self.run.touch()?;
        self.run.log(
            Some(step),
            "custom-model-deleted",
            json!({ "candidate": candidate.id, "model": arn, "existed": existed }),
        )?;
        Ok(existed)
    }

    /// Step `decide` of a sweep: the N-way comparison of every evaluated candidate against the base on the
    /// items all of them answered (p-values corrected, `sweep.correction`); the winner, if the verdict names
    /// one, keeps its serving (unless `keep_if_better` of `[throughput]` / `[deployment]` is off); every other serving is deleted, and
    /// every other custom model too under `customization.delete_custom_model_if_not_better`.
    pub(super) async fn decide_sweep(&mut self) -> StepResult {
        let items = self.items()?;
        let base: Vec<ItemOutput> = self.read_json(BASE_OUTPUTS_FILE)?;
        let state = self.sweep_state()?.clone();
        let evaluated: Vec<&CandidateRecord> = state
            .candidates
            .iter()
            .filter(|c| c.score.is_some())
            .collect();
        let correction = self
            .config
            .sweep
            .as_ref()
            .map(|s| s.correction)
            .unwrap_or_default();
        let mut ranking: Vec<RankingRow> = Vec::new();
        let mut best_vs_runner_up = None;
        let (verdict, n, base_f1) = if evaluated.len() >= 2 {
            let mut outputs = Vec::new();
            for c in &evaluated {
                outputs.push(self.read_json::<Vec<ItemOutput>>(&outputs_file(&c.id))?);
            }
            let systems_items: Vec<SystemsItem> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let base_text = base.get(i)?.completion.clone()?;
                    let systems = outputs
                        .iter()
                        .map(|o| o.get(i).and_then(|o| o.completion.clone()))
                        .collect::<Option<Vec<String>>>()?;
                    Some(SystemsItem {
                        id: item.id.clone(),
                        prompt: Some(item.prompt.clone()),
                        base: base_text,
                        systems,
                        references: item.references.clone(),
                    })
                })
                .collect();
            if systems_items.is_empty() {
                return Err(PipelineError::Inference(
                    "no item was answered by the base and every evaluated candidate: the candidates cannot be \
                     ranked on the same items"
                        .into(),
                ));
            }
            let names: Vec<String> = evaluated.iter().map(|c| c.id.clone()).collect();
            let scoring = self.config.scoring.clone();
            let comparison = tokio::task::spawn_blocking(move || {
                let corpus: Vec<String> = systems_items
                    .iter()
                    .flat_map(|item| item.references.iter().cloned())
                    .collect();
                let scorer = super::load_scorer(&scoring, corpus)?;
                bertscore_compare::compare_systems(
                    &scorer,
                    &systems_items,
                    &names,
                    &scoring.statistics,
                    correction,
                    &|_, _| {},
                )
                .map_err(|e| PipelineError::Compare(e.to_string()))
            })
            .await
            .map_err(|e| PipelineError::Run(format!("the scoring task failed: {e}")))??;
            let bytes = to_json(&comparison);
            self.run.write_file(SWEEP_COMPARISON_FILE, &bytes)?;
            let bucket = self.config.s3.inference_bucket().to_string();
            let key = self.config.s3.key(self.run_id(), SWEEP_COMPARISON_FILE);
            self.aws
                .put_object(&bucket, &key, bytes, "application/json")
                .await?;
            self.record_object("sweep-comparison", &bucket, &key);
            for ranked in &comparison.ranking {
                let stats = comparison
                    .system(&ranked.name)
                    .ok_or_else(|| PipelineError::Compare(format!("{} not ranked", ranked.name)))?;
                let c = state
                    .candidate(&ranked.name)
                    .expect("ranked candidates exist");
                ranking.push(RankingRow {
                    rank: Some(ranked.rank),
                    id: c.id.clone(),
                    overrides: c.overrides.clone(),
                    f1: Some(stats.means.f1),
                    delta_f1: Some(stats.delta_f1),
                    ci95: Some(stats.ci95),
                    p_value: Some(stats.p_value),
                    p_adjusted: Some(stats.p_adjusted),
                    wins_losses_ties: Some([stats.wins, stats.losses, stats.ties]),
                    disposition: String::new(),
                });
            }
            best_vs_runner_up = Some(comparison.best_vs_runner_up.clone());
            (comparison.verdict.clone(), comparison.n, comparison.base.f1)
        } else {
            // One candidate: the paired comparison is the whole story (nothing to correct for).
            let c = evaluated[0];
            let score = c.score.clone().expect("evaluated");
            ranking.push(RankingRow {
                rank: Some(1),
                id: c.id.clone(),
                overrides: c.overrides.clone(),
                f1: Some(score.f1),
                delta_f1: Some(score.delta_f1),
                ci95: Some(score.ci95),
                p_value: Some(score.p_value),
                p_adjusted: Some(score.p_value),
                wins_losses_ties: Some(score.wins_losses_ties),
                disposition: String::new(),
            });
            let verdict = match score.verdict {
                Verdict::Custom => c.id.clone(),
                Verdict::Base => "base".into(),
                Verdict::Inconclusive => "inconclusive".into(),
            };
            (verdict, score.scored, score.base_f1)
        };
        let winner = state.candidate(&verdict).map(|c| c.id.clone());
        let kind = self.config.serving_kind();
        let keep = winner.is_some() && self.config.keep_serving_if_better(kind);
        let mut actions = Vec::new();
        for index in 0..state.candidates.len() {
            let c = &state.candidates[index];
            let is_winner = winner.as_deref() == Some(c.id.as_str());
            if is_winner && keep {
                if c.serving.may_exist() {
                    actions.push(format!("{}: serving kept", c.id));
                }
                continue;
            }
            if self.delete_candidate_serving(index, Step::Decide).await? {
                actions.push(format!("{}: serving deleted", c.id));
            }
            if !is_winner
                && self.config.customization.delete_custom_model_if_not_better
                && self.delete_candidate_model(index, Step::Decide).await?
            {
                actions.push(format!("{}: custom model deleted", c.id));
            }
        }
        // The winner's serving may be gone: deleted by a failure before a resume, or during the sweep when it
        // ranked below another candidate on fewer items. The user keeps winners: it is served again (alone).
        if let Some(index) = winner
            .as_deref()
            .and_then(|id| state.candidates.iter().position(|c| c.id == id))
            .filter(|&i| keep && !self.candidate(i).serving.may_exist())
        {
            let id = self.candidate(index).id.clone();
            match self.serve_candidate(index, Step::Decide).await? {
                Ok(()) => actions.push(format!("{id}: serving created again and kept")),
                Err(why) => {
                    self.delete_candidate_serving(index, Step::Decide).await?;
                    self.run.state.notes.push(format!(
                        "{id} won the sweep, but serving it again failed ({why}); its custom model {} is kept",
                        self.candidate(index)
                            .custom_model_arn
                            .as_deref()
                            .unwrap_or("-")
                    ));
                }
            }
        }
        // Every candidate in the table: the ranked ones with what became of them, then the others.
        let state = self.sweep_state()?.clone();
        for row in &mut ranking {
            let c = state.candidate(&row.id).expect("ranked candidates exist");
            row.disposition = disposition(c, winner.as_deref());
        }
        for c in &state.candidates {
            if c.score.is_none() {
                ranking.push(RankingRow {
                    rank: None,
                    id: c.id.clone(),
                    overrides: c.overrides.clone(),
                    f1: None,
                    delta_f1: None,
                    ci95: None,
                    p_value: None,
                    p_adjusted: None,
                    wins_losses_ties: None,
                    disposition: disposition(c, winner.as_deref()),
                });
            }
        }
        let result = SweepResult {
            verdict: verdict.clone(),
            correction,
            items: n,
            base_f1,
            ranking,
            best_vs_runner_up,
        };
        self.record_sweep_outcome(&result, &items, winner.as_deref(), keep);
        if let Some(sweep) = self.run.state.sweep.as_mut() {
            sweep.result = Some(result);
        }
        self.run.touch()?;
        Ok((
            StepStatus::Finished,
            json!({ "verdict": verdict, "actions": actions }),
        ))
    }

    /// The run-level outcome and resources of a decided sweep describe its best candidate, so the email's
    /// subject, `status` and `cleanup` (which deletes the run's serving) see the one serving a sweep may keep.
    fn record_sweep_outcome(
        &mut self,
        result: &SweepResult,
        items: &[EvalItem],
        winner: Option<&str>,
        keep: bool,
    ) {
        let Some(best) = result.ranking.first() else {
            return;
        };
        let Some(c) = self
            .run
            .state
            .sweep
            .as_ref()
            .and_then(|s| s.candidate(&best.id))
            .cloned()
        else {
            return;
        };
        let score = c.score.clone();
        let verdict = match (winner, result.verdict.as_str()) {
            (Some(_), _) => Verdict::Custom,
            (None, "base") => Verdict::Base,
            _ => Verdict::Inconclusive,
        };
        if let Some(score) = &score {
            self.run.state.outcome = Some(Outcome {
                verdict,
                items: items.len(),
                scored: result.items,
                failed_items: score.failed_items.clone(),
                base_f1: result.base_f1,
                custom_f1: best.f1.unwrap_or(score.f1),
                delta_f1: best.delta_f1.unwrap_or(score.delta_f1),
                ci95: best.ci95.unwrap_or(score.ci95),
                // The corrected p-value: the one the verdict was reached with.
                p_value: best.p_adjusted.unwrap_or(score.p_value),
                wins: best.wins_losses_ties.map_or(0, |w| w[0]),
                losses: best.wins_losses_ties.map_or(0, |w| w[1]),
                ties: best.wins_losses_ties.map_or(0, |w| w[2]),
                settings: self.config.scoring.model_spec(),
            });
        }
        let resources = &mut self.run.state.resources;
        resources.job_name = c.job_name.clone();
        resources.job_arn = c.job_arn.clone();
        resources.job_status = c.job_status.clone();
        resources.custom_model_name = c.custom_model_name.clone();
        resources.custom_model_arn = c.custom_model_arn.clone();
        resources.custom_model_deleted = c.custom_model_deleted;
        resources.serving = c.serving.clone();
        if !keep {
            resources.serving.deleted = true;
        }
    }

    /// After a failure: deletes every candidate serving that may exist (unless `decide` has finished: then a
    /// live serving is the winner the user chose to keep). Running candidate jobs are left to finish: `resume`
    /// waits for them, `cleanup` stops them. Returns notes for the report.
    pub(super) async fn release_candidates_after_failure(&mut self) {
        let Some(state) = self.run.state.sweep.clone() else {
            return;
        };
        if self.run.state.finished(Step::Decide) {
            return;
        }
        let hint = format!("run `bertscore pipeline cleanup {}`", self.run_id());
        for (index, c) in state.candidates.iter().enumerate() {
            if !c.serving.may_exist() {
                continue;
            }
            let note = match self.delete_candidate_serving(index, Step::Report).await {
                Ok(true) => Some(format!(
                    "{}: its serving was deleted after the failure",
                    c.id
                )),
                Ok(false) => None,
                Err(e) => Some(format!(
                    "{}: its serving {} could NOT be deleted ({}); {hint}",
                    c.id,
                    c.serving.identifier(),
                    e.describe()
                )),
            };
            self.run.state.notes.extend(note);
        }
        let running: Vec<&str> = state
            .candidates
            .iter()
            .filter(|c| c.job_requested && !c.job_ended())
            .map(|c| c.id.as_str())
            .collect();
        if !running.is_empty() {
            self.run.state.notes.push(format!(
                "the customization jobs of {} are still running: `resume` waits for them, `cleanup` stops them",
                running.join(", ")
            ));
        }
    }

    /// `cleanup` of a sweep: stops running candidate jobs, deletes every candidate serving, and every candidate
    /// custom model when asked. Safe to repeat.
    pub(super) async fn cleanup_candidates(
        &mut self,
        delete_custom_model: bool,
    ) -> Result<Vec<String>> {
        let Some(state) = self.run.state.sweep.clone() else {
            return Ok(Vec::new());
        };
        let mut actions = Vec::new();
        for (index, c) in state.candidates.iter().enumerate() {
            if c.job_requested && !c.job_ended() {
                let (status, stopped) =
                    super::fine_tune::stop_if_running(self.aws.as_ref(), &c.job_identifier())
                        .await?;
                self.candidate_mut(index).job_status = status;
                self.run.touch()?;
                if stopped {
                    actions.push(format!(
                        "{}: stopped customization job {}",
                        c.id,
                        c.job_identifier()
                    ));
                }
            }
            let identifier = c.serving.identifier();
            if self.delete_candidate_serving(index, Step::Report).await? {
                actions.push(format!("{}: deleted serving {identifier}", c.id));
            }
            if delete_custom_model && self.delete_candidate_model(index, Step::Report).await? {
                actions.push(format!(
                    "{}: deleted custom model {}",
                    c.id,
                    c.custom_model_arn.as_deref().unwrap_or("-")
                ));
            }
        }
        Ok(actions)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.run.read_file(name)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| PipelineError::Run(format!("{}: {e}", self.run.path(name).display())))
    }
}

/// What became of a candidate, for the ranking table.
fn disposition(c: &CandidateRecord, winner: Option<&str>) -> String {
    let model = if c.custom_model_deleted {
        ", model deleted"
    } else {
        ""
    };
    if let Some(failure) = &c.evaluation_failure {
        return format!("not evaluated: {failure}");
    }
    if !c.trained() {
        return format!(
            "job {}: {}",
            c.job_status.as_deref().unwrap_or("not started"),
            c.job_failure.as_deref().unwrap_or("no failure message")
        );
    }
    if winner == Some(c.id.as_str()) {
        if c.serving.may_exist() {
            format!("winner, serving kept{model}")
        } else {
            format!("winner, serving deleted{model}")
        }
    } else {
        format!("serving deleted{model}")
    }
}
