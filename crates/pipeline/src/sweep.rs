//! Hyper-parameter sweeps: the `[sweep]` section, its expansion into candidates, the bounds checked before
//! anything is billed, each candidate's Bedrock names and client request tokens, and the per-candidate state the
//! journal keeps.
//!
//! ```toml
//! [sweep]
//! learningRate = ["0.00001", "0.00005"]   # a grid: every combination of the lists (here 2 x 2 = 4)
//! epochCount = ["1", "2"]
//! max_concurrent_jobs = 2                 # customization jobs running at once
//! ```
//!
//! or a list of hyper-parameter sets, `[[sweep.candidates]]` tables. Each candidate's set is merged over
//! `[customization] hyper_parameters` (the sweep's values win). Candidates are named `c1`, `c2`, ... in the
//! order of the list, or of the grid with its keys in alphabetical order and the last key varying fastest.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use bertscore_compare::Correction;
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::Scalar;
use crate::error::{PipelineError, Result};
use crate::naming::ResourceNames;
use crate::serving::{self, ServingRecord};

/// The most candidates `max_candidates` may allow (each is a billed customization job).
pub const MAX_CANDIDATES_LIMIT: usize = 100;
/// The most customization jobs `max_concurrent_jobs` may run at once.
pub const MAX_CONCURRENT_JOBS_LIMIT: usize = 20;
/// The default bound on the number of candidates.
pub const DEFAULT_MAX_CANDIDATES: usize = 16;
/// The default number of customization jobs running at once.
pub const DEFAULT_MAX_CONCURRENT_JOBS: usize = 2;
/// Bedrock's longest job, model and provisioned-model name.
const MAX_NAME: usize = 63;

/// `[sweep]`: the candidates (a grid or a list) and the sweep's bounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepConfig {
    /// Grid axes: hyper-parameter → the values tried; every combination is a candidate.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub grid: BTreeMap<String, Vec<String>>,
    /// Explicit hyper-parameter sets, one candidate each (instead of a grid).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<BTreeMap<String, String>>,
    /// Customization jobs running at once, 1 to [`MAX_CONCURRENT_JOBS_LIMIT`] (default 2).
    pub max_concurrent_jobs: usize,
    /// The sweep is refused when it expands to more candidates than this, 1 to [`MAX_CANDIDATES_LIMIT`]
    /// (default 16).
    pub max_candidates: usize,
    /// How the candidates' p-values against the base are adjusted for testing several at once (default holm).
    pub correction: Correction,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            grid: BTreeMap::new(),
            candidates: Vec::new(),
            max_concurrent_jobs: DEFAULT_MAX_CONCURRENT_JOBS,
            max_candidates: DEFAULT_MAX_CANDIDATES,
            correction: Correction::Holm,
        }
    }
}

/// What `[sweep]` may hold besides grid axes.
const KNOWN_KEYS: [&str; 5] = [
    "grid",
    "candidates",
    "max_concurrent_jobs",
    "max_candidates",
    "correction",
];

impl<'de> Deserialize<'de> for SweepConfig {
    /// Grid axes may sit in `[sweep]` itself (`learningRate = ["0.00001", "0.00005"]`) or in `[sweep.grid]`.
    /// Any other key must be a list: a scalar there is a typo of a setting or a fixed hyper-parameter, and is
    /// refused with a message saying where it belongs.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let fields = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        let mut config = SweepConfig::default();
        let axis = |key: &str,
                    value: serde_json::Value|
         -> std::result::Result<Vec<String>, D::Error> {
            match value {
                serde_json::Value::Array(values) => values
                    .into_iter()
                    .map(|v| {
                        serde_json::from_value::<Scalar>(v)
                            .map(Scalar::into_string)
                            .map_err(|_| {
                                D::Error::custom(format!(
                                    "sweep.{key}: grid values must be strings or numbers"
                                ))
                            })
                    })
                    .collect(),
                _ => Err(D::Error::custom(format!(
                    "sweep.{key}: unknown setting; a grid axis is a list of values (`{key} = [\"a\", \"b\"]`), and a \
                     hyper-parameter every candidate shares belongs in [customization] hyper_parameters; the \
                     settings are {}",
                    KNOWN_KEYS.join(", ")
                ))),
            }
        };
        for (key, value) in fields {
            match key.as_str() {
                "grid" => {
                    let table = BTreeMap::<String, serde_json::Value>::deserialize(value)
                        .map_err(|e| D::Error::custom(format!("sweep.grid: {e}")))?;
                    for (name, values) in table {
                        let values = axis(&format!("grid.{name}"), values)?;
                        if config.grid.insert(name.clone(), values).is_some() {
                            return Err(D::Error::custom(format!(
                                "sweep: grid axis {name:?} is given twice"
                            )));
                        }
                    }
                }
                "candidates" => {
                    let sets =
                        Vec::<BTreeMap<String, Scalar>>::deserialize(value).map_err(|e| {
                            D::Error::custom(format!(
                                "sweep.candidates: a list of hyper-parameter tables ({e})"
                            ))
                        })?;
                    config.candidates = sets
                        .into_iter()
                        .map(|set| set.into_iter().map(|(k, v)| (k, v.into_string())).collect())
                        .collect();
                }
                "max_concurrent_jobs" | "max_candidates" => {
                    let count = usize::deserialize(value).map_err(|_| {
                        D::Error::custom(format!("sweep.{key}: a whole number is expected"))
                    })?;
                    if key == "max_concurrent_jobs" {
                        config.max_concurrent_jobs = count;
                    } else {
                        config.max_candidates = count;
                    }
                }
                "correction" => {
                    config.correction = Correction::deserialize(value).map_err(|_| {
                        D::Error::custom(
                            "sweep.correction: expected \"holm\", \"bonferroni\" or \"none\"",
                        )
                    })?;
                }
                _ => {
                    let values = axis(&key, value)?;
                    if config.grid.insert(key.clone(), values).is_some() {
                        return Err(D::Error::custom(format!(
                            "sweep: grid axis {key:?} is given twice"
                        )));
                    }
                }
            }
        }
        Ok(config)
    }
}

/// One candidate of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `c1`, `c2`, ...: its name in the ranking and in its resources' names.
    pub id: String,
    /// The sweep's values for this candidate (what distinguishes it).
    pub overrides: BTreeMap<String, String>,
    /// Everything sent to Bedrock: `[customization] hyper_parameters` with `overrides` on top.
    pub hyper_parameters: BTreeMap<String, String>,
}

impl SweepConfig {
    /// The number of candidates the sweep expands to (saturating: a huge grid is a huge number, never a wrap).
    pub fn count(&self) -> usize {
        if self.grid.is_empty() {
            self.candidates.len()
        } else {
            self.grid
                .values()
                .fold(1usize, |n, values| n.saturating_mul(values.len()))
        }
    }

    /// Every candidate, in order, each set merged over `base` (`[customization] hyper_parameters`). Checks the
    /// bounds first, so a grid beyond `max_candidates` is refused before it is built.
    pub fn expand(
        &self,
        base: &BTreeMap<String, String>,
    ) -> std::result::Result<Vec<Candidate>, String> {
        self.check_bounds()?;
        let sets: Vec<BTreeMap<String, String>> = if self.grid.is_empty() {
            self.candidates.clone()
        } else {
            let mut sets = vec![BTreeMap::new()];
            for (name, values) in &self.grid {
                sets = sets
                    .into_iter()
                    .flat_map(|set: BTreeMap<String, String>| {
                        values.iter().map(move |value| {
                            let mut set = set.clone();
                            set.insert(name.clone(), value.clone());
                            set
                        })
                    })
                    .collect();
            }
            sets
        };
        let mut candidates: Vec<Candidate> = Vec::with_capacity(sets.len());
        for (index, overrides) in sets.into_iter().enumerate() {
            let mut hyper_parameters = base.clone();
            hyper_parameters.extend(overrides.clone());
            if let Some(same) = candidates
                .iter()
                .find(|c| c.hyper_parameters == hyper_parameters)
            {
                return Err(format!(
                    "sweep: candidates {} and c{} have the same hyper-parameters ({}); each candidate must differ",
                    same.id,
                    index + 1,
                    describe_set(&overrides)
                ));
            }
            candidates.push(Candidate {
                id: format!("c{}", index + 1),
                overrides,
                hyper_parameters,
            });
        }
        Ok(candidates)
    }

    /// The bounds: one form (grid or list), at least one candidate, at most `max_candidates` (itself at most
    /// [`MAX_CANDIDATES_LIMIT`]), `max_concurrent_jobs` in 1..=[`MAX_CONCURRENT_JOBS_LIMIT`], no empty axis, set,
    /// name or value, no value twice on an axis.
    fn check_bounds(&self) -> std::result::Result<(), String> {
        if !(1..=MAX_CANDIDATES_LIMIT).contains(&self.max_candidates) {
            return Err(format!(
                "sweep.max_candidates must be 1 to {MAX_CANDIDATES_LIMIT}, not {}",
                self.max_candidates
            ));
        }
        if !(1..=MAX_CONCURRENT_JOBS_LIMIT).contains(&self.max_concurrent_jobs) {
            return Err(format!(
                "sweep.max_concurrent_jobs must be 1 to {MAX_CONCURRENT_JOBS_LIMIT}, not {}",
                self.max_concurrent_jobs
            ));
        }
        match (self.grid.is_empty(), self.candidates.is_empty()) {
            (true, true) => {
                return Err(
                    "sweep: no candidates; give grid axes (`learningRate = [\"0.00001\", \"0.00005\"]`) or \
                     [[sweep.candidates]] tables"
                        .into(),
                );
            }
            (false, false) => {
                return Err(
                    "sweep: give either grid axes or [[sweep.candidates]], not both".into(),
                );
            }
            _ => {}
        }
        for (name, values) in &self.grid {
            check_hyper_parameter_name(name)?;
            if values.is_empty() {
                return Err(format!("sweep.{name}: the list of values is empty"));
            }
            for (i, value) in values.iter().enumerate() {
                if value.trim().is_empty() {
                    return Err(format!("sweep.{name}: value {} is empty", i + 1));
                }
                if values[..i].contains(value) {
                    return Err(format!("sweep.{name}: {value:?} is listed twice"));
                }
            }
        }
        for (i, set) in self.candidates.iter().enumerate() {
            if set.is_empty() {
                return Err(format!(
                    "sweep.candidates[{}]: an empty set (it would repeat [customization] hyper_parameters)",
                    i + 1
                ));
            }
            for (name, value) in set {
                check_hyper_parameter_name(name)?;
                if value.trim().is_empty() {
                    return Err(format!("sweep.candidates[{}].{name}: empty value", i + 1));
                }
            }
        }
        let count = self.count();
        if count > self.max_candidates {
            let shape = if self.grid.is_empty() {
                format!("{count} candidates are listed")
            } else {
                let sizes: Vec<String> = self
                    .grid
                    .iter()
                    .map(|(name, values)| format!("{} {name}", values.len()))
                    .collect();
                format!("the grid ({}) gives {count} candidates", sizes.join(" x "))
            };
            return Err(format!(
                "sweep: {shape}, more than sweep.max_candidates = {} (each is a billed customization job); raise \
                 the bound (at most {MAX_CANDIDATES_LIMIT}) or shrink the sweep",
                self.max_candidates
            ));
        }
        Ok(())
    }

    /// Checks the sweep against the rest of the config (`names` with a placeholder run id of the longest length):
    /// the bounds, the expansion, and every candidate's resource names within Bedrock's limits.
    pub(crate) fn validate(
        &self,
        base: &BTreeMap<String, String>,
        names: &ResourceNames,
        origin: &Path,
    ) -> Result<()> {
        let candidates = self
            .expand(base)
            .map_err(|message| PipelineError::config(origin, message))?;
        if let Some(last) = candidates.last() {
            let names = CandidateNames::of(names, &last.id);
            for (field, name) in [
                ("customization.job_name", &names.job),
                ("customization.custom_model_name", &names.custom_model),
                ("throughput.name", &names.serving),
            ] {
                if name.len() > MAX_NAME {
                    return Err(PipelineError::config(
                        origin,
                        format!(
                            "{field}: the sweep's candidate names ({name:?}) would be longer than Bedrock's \
                             {MAX_NAME} characters; shorten the name"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_hyper_parameter_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "sweep: {name:?} is not a hyper-parameter name (letters, digits, '_', '-')"
        ));
    }
    Ok(())
}

/// `learningRate=0.00005, epochCount=2`.
pub fn describe_set(set: &BTreeMap<String, String>) -> String {
    set.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A candidate's Bedrock names: the run's names with `-{id}` appended (a default serving name is the
/// candidate's custom model name with the serving's `-pt` or `-od`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateNames {
    /// The customization job.
    pub job: String,
    /// The custom model.
    pub custom_model: String,
    /// The serving (provisioned throughput or on-demand deployment, as the config resolves).
    pub serving: String,
}

impl CandidateNames {
    pub(crate) fn of(run: &ResourceNames, id: &str) -> CandidateNames {
        let kind = run.serving_kind;
        let custom_model = format!("{}-{id}", run.custom_model);
        let serving = if run.serving() == serving::default_name(kind, &run.custom_model) {
            serving::default_name(kind, &custom_model)
        } else {
            format!("{}-{id}", run.serving())
        };
        CandidateNames {
            job: format!("{}-{id}", run.job),
            custom_model,
            serving,
        }
    }
}

/// The client request token of candidate `id`'s customization job.
pub(crate) fn job_token(run_id: &str, id: &str) -> String {
    format!("{run_id}-{id}-job")
}

/// The scope of candidate `id`'s serving tokens ([`ServingRecord::token`]): `{run_id}-{id}`.
pub(crate) fn serving_scope(run_id: &str, id: &str) -> String {
    format!("{run_id}-{id}")
}

/// A candidate's evaluation against the base (paired, on the items both answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// Items scored.
    pub scored: usize,
    /// Items the candidate (or the base) did not answer.
    pub failed_items: Vec<String>,
    /// The candidate's mean F1.
    pub f1: f64,
    /// The base's mean F1 on the same items.
    pub base_f1: f64,
    /// Mean F1 difference (candidate - base).
    pub delta_f1: f64,
    /// 95% bootstrap confidence interval of the difference.
    pub ci95: [f64; 2],
    /// Permutation-test p-value, uncorrected.
    pub p_value: f64,
    /// Items the candidate won, lost and tied against the base.
    pub wins_losses_ties: [usize; 3],
    /// The paired verdict against the base (uncorrected; the sweep's verdict is the N-way one).
    pub verdict: bertscore_compare::Verdict,
}

/// One candidate in `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// `c1`, `c2`, ...
    pub id: String,
    /// The sweep's values for this candidate.
    pub overrides: BTreeMap<String, String>,
    /// Every hyper-parameter sent to Bedrock.
    pub hyper_parameters: BTreeMap<String, String>,
    /// The job's name.
    pub job_name: String,
    /// The custom model's name.
    pub custom_model_name: String,
    /// The create call may have gone out.
    #[serde(default)]
    pub job_requested: bool,
    /// The job's ARN, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_arn: Option<String>,
    /// The job's last seen status (`InProgress`, `Completed`, `Failed`, `Stopped`), or `Rejected` when the
    /// create call was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<String>,
    /// Why the job failed or was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_failure: Option<String>,
    /// The custom model's ARN, once the job completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_model_arn: Option<String>,
    /// Whether the run deleted the custom model.
    #[serde(default)]
    pub custom_model_deleted: bool,
    /// The serving the candidate is evaluated through.
    pub serving: ServingRecord,
    /// The evaluation, once scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<CandidateScore>,
    /// Why the evaluation failed (serving or inference); the sweep goes on without the candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_failure: Option<String>,
}

impl CandidateRecord {
    /// The record of a candidate that has created nothing yet.
    pub(crate) fn new(candidate: &Candidate, run: &ResourceNames) -> CandidateRecord {
        let names = CandidateNames::of(run, &candidate.id);
        CandidateRecord {
            id: candidate.id.clone(),
            overrides: candidate.overrides.clone(),
            hyper_parameters: candidate.hyper_parameters.clone(),
            job_name: names.job,
            custom_model_name: names.custom_model,
            job_requested: false,
            job_arn: None,
            job_status: None,
            job_failure: None,
            custom_model_arn: None,
            custom_model_deleted: false,
            serving: ServingRecord::new(run.serving_kind, names.serving),
            score: None,
            evaluation_failure: None,
        }
    }

    /// Whether the job has ended (completed, failed, stopped, or refused).
    pub fn job_ended(&self) -> bool {
        matches!(
            self.job_status.as_deref(),
            Some("Completed" | "Failed" | "Stopped" | "Rejected")
        )
    }

    /// Whether the candidate trained and can be evaluated.
    pub fn trained(&self) -> bool {
        self.job_status.as_deref() == Some("Completed") && self.custom_model_arn.is_some()
    }

    /// The job's ARN, or its name before the ARN is known.
    pub fn job_identifier(&self) -> String {
        self.job_arn
            .clone()
            .unwrap_or_else(|| self.job_name.clone())
    }

    /// Where the candidate stands, in a word or two (for `status` and the report).
    pub fn phase(&self) -> String {
        let serving = if self.serving.may_exist() {
            format!(
                "serving {}",
                self.serving.status.as_deref().unwrap_or("requested")
            )
        } else if self.serving.deleted {
            "serving deleted".into()
        } else {
            String::new()
        };
        let base = if let Some(score) = &self.score {
            format!("evaluated (F1 {:.4})", score.f1)
        } else if self.evaluation_failure.is_some() {
            "evaluation failed".into()
        } else if !self.job_requested {
            "pending".into()
        } else {
            match self.job_status.as_deref() {
                Some("Completed") => "trained".into(),
                Some("Rejected") => "job refused".into(),
                Some(status @ ("Failed" | "Stopped")) => format!("job {status}"),
                Some(status) => format!("training ({status})"),
                None => "job requested".into(),
            }
        };
        if serving.is_empty() {
            base
        } else {
            format!("{base}; {serving}")
        }
    }
}

/// The sweep's outcome: the N-way verdict and the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The winning candidate's id, `base`, or `inconclusive` (`bertscore compare`'s N-way verdict).
    pub verdict: String,
    /// How the p-values were adjusted.
    pub correction: Correction,
    /// Items every evaluated candidate and the base answered (the ranking's items).
    pub items: usize,
    /// The base's mean F1 on those items.
    pub base_f1: f64,
    /// Every evaluated candidate, best first; then those without a score.
    pub ranking: Vec<RankingRow>,
    /// The best candidate against the runner-up (paired), when two or more were evaluated: whether the best
    /// is better than the next, or only first by a hair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_vs_runner_up: Option<bertscore_compare::multi::HeadToHead>,
}

/// One line of the ranking table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingRow {
    /// 1 for the best; `None` for a candidate that was not evaluated.
    pub rank: Option<usize>,
    /// The candidate's id.
    pub id: String,
    /// Its swept hyper-parameters.
    pub overrides: BTreeMap<String, String>,
    /// Mean F1.
    pub f1: Option<f64>,
    /// Mean F1 - the base's.
    pub delta_f1: Option<f64>,
    /// 95% CI of the difference.
    pub ci95: Option<[f64; 2]>,
    /// Uncorrected p-value.
    pub p_value: Option<f64>,
    /// Corrected p-value.
    pub p_adjusted: Option<f64>,
    /// Items won, lost and tied against the base.
    pub wins_losses_ties: Option<[usize; 3]>,
    /// How the candidate ended: `winner (kept)`, `deleted`, `job Failed: ...`.
    pub disposition: String,
}

impl SweepResult {
    /// The verdict in words, for the email's subject.
    pub fn verdict_in_words(&self) -> String {
        let candidates = self.ranking.len();
        match self.verdict.as_str() {
            "base" => format!("every one of the {candidates} candidates is worse than the base"),
            "inconclusive" => format!(
                "no candidate of {candidates} beats the base after {} correction",
                self.correction
            ),
            winner => format!(
                "{winner} is the best of {candidates} candidates and beats the base after {} correction",
                self.correction
            ),
        }
    }

    /// The ranking table's heading.
    pub fn heading(&self) -> String {
        format!(
            "Sweep ranking: {} candidates against the base on {} items, p-values corrected ({}); verdict {}",
            self.ranking.len(),
            self.items,
            self.correction,
            self.verdict
        )
    }

    /// The ranking as a fixed-width text table (the email and `status`).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<4} {:<5} {:<36} {:>7} {:>8}  {:<19} {:>7} {:>12}  outcome",
            "rank",
            "cand",
            "hyper-parameters",
            "F1",
            "delta",
            "95% CI",
            "p",
            format!("p {}", self.correction),
        );
        let _ = writeln!(
            out,
            "{:<4} {:<5} {:<36} {:>7.4}",
            "-", "base", "", self.base_f1
        );
        for row in &self.ranking {
            let rank = row
                .rank
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".into());
            let f1 = row
                .f1
                .map(|f| format!("{f:.4}"))
                .unwrap_or_else(|| "-".into());
            let delta = row
                .delta_f1
                .map(|d| format!("{d:+.4}"))
                .unwrap_or_else(|| "-".into());
            let ci = row
                .ci95
                .map(|[lo, hi]| format!("[{lo:+.4}, {hi:+.4}]"))
                .unwrap_or_else(|| "-".into());
            let p = row
                .p_value
                .map(|p| format!("{p:.4}"))
                .unwrap_or_else(|| "-".into());
            let pa = row
                .p_adjusted
                .map(|p| format!("{p:.4}"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "{:<4} {:<5} {:<36} {:>7} {:>8}  {:<19} {:>7} {:>12}  {}",
                rank,
                row.id,
                describe_set(&row.overrides),
                f1,
                delta,
                ci,
                p,
                pa,
                row.disposition
            );
        }
        if let Some(head) = &self.best_vs_runner_up {
            let _ = writeln!(
                out,
                "{} vs runner-up {}: delta F1 {:+.4}, 95% CI [{:+.4}, {:+.4}], p {:.4}, W/L/T {}/{}/{}",
                head.best,
                head.runner_up,
                head.delta_f1,
                head.ci95[0],
                head.ci95[1],
                head.p_value,
                head.wins,
                head.losses,
                head.ties
            );
        }
        out
    }

    /// The winning candidate's row, when the verdict names one.
    pub fn winner(&self) -> Option<&RankingRow> {
        self.ranking.iter().find(|row| row.id == self.verdict)
    }
}

/// The sweep's state in `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepState {
    /// Every candidate, in order.
    pub candidates: Vec<CandidateRecord>,
    /// The evaluated candidate with the highest mean F1 so far: its serving is kept until a better one comes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_so_far: Option<String>,
    /// The outcome, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<SweepResult>,
}

impl SweepState {
    /// The state of a sweep that has created nothing yet.
    pub(crate) fn new(candidates: &[Candidate], run: &ResourceNames) -> SweepState {
        SweepState {
            candidates: candidates
                .iter()
                .map(|c| CandidateRecord::new(c, run))
                .collect(),
            best_so_far: None,
            result: None,
        }
    }

    /// The candidate `id`.
    pub fn candidate(&self, id: &str) -> Option<&CandidateRecord> {
        self.candidates.iter().find(|c| c.id == id)
    }

    /// Servings that may exist and bill.
    pub fn live_servings(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| c.serving.may_exist())
            .count()
    }

    /// One line per candidate (for `status`): id, hyper-parameters, where it stands, its job and serving.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for c in &self.candidates {
            let best =
                if self.best_so_far.as_deref() == Some(c.id.as_str()) && self.result.is_none() {
                    " [best so far]"
                } else {
                    ""
                };
            let _ = writeln!(
                out,
                "  {:<4} {:<36} {}{best}",
                c.id,
                describe_set(&c.overrides),
                c.phase()
            );
            let _ = writeln!(
                out,
                "       job {} [{}]{}",
                c.job_identifier(),
                c.job_status.as_deref().unwrap_or("-"),
                c.job_failure
                    .as_deref()
                    .map(|f| format!(": {f}"))
                    .unwrap_or_default()
            );
            if c.serving.requested || c.serving.arn.is_some() {
                let _ = writeln!(
                    out,
                    "       {} {}{}",
                    c.serving.kind.describe(),
                    c.serving.identifier(),
                    if c.serving.deleted {
                        " (deleted)".to_string()
                    } else {
                        format!(" ({})", c.serving.kind.billing())
                    }
                );
            }
            if let Some(failure) = &c.evaluation_failure {
                let _ = writeln!(out, "       evaluation failed: {failure}");
            }
        }
        if let Some(result) = &self.result {
            let _ = writeln!(out, "sweep verdict: {}", result.verdict);
            for line in result.table().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::ServingKind;

    fn parse(text: &str) -> std::result::Result<SweepConfig, String> {
        #[derive(Deserialize)]
        struct Wrapper {
            sweep: SweepConfig,
        }
        toml::from_str::<Wrapper>(text)
            .map(|w| w.sweep)
            .map_err(|e| e.to_string())
    }

    fn run_names(job: &str, model: &str) -> ResourceNames {
        ResourceNames {
            job: job.into(),
            custom_model: model.into(),
            throughput: serving::default_name(ServingKind::Throughput, model),
            deployment: serving::default_name(ServingKind::Deployment, model),
            serving_kind: ServingKind::Throughput,
        }
    }

    fn base() -> BTreeMap<String, String> {
        [("epochCount", "1"), ("batchSize", "8")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_grid_expands_to_every_combination_merged_over_the_base() {
        let sweep = parse(
            "[sweep]\nlearningRate = [\"0.00001\", 0.00005]\nepochCount = [1, \"2\"]\nmax_concurrent_jobs = 3\n",
        )
        .unwrap();
        assert_eq!(sweep.max_concurrent_jobs, 3);
        assert_eq!(sweep.max_candidates, DEFAULT_MAX_CANDIDATES);
        assert_eq!(sweep.correction, Correction::Holm);
        assert_eq!(sweep.count(), 4);
        let candidates = sweep.expand(&base()).unwrap();
        let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2", "c3", "c4"]);
        // Keys in alphabetical order (epochCount, learningRate), the last varying fastest.
        let expected = [
            ("1", "0.00001"),
            ("1", "0.00005"),
            ("2", "0.00001"),
            ("2", "0.00005"),
        ];
        for (candidate, (epochs, rate)) in candidates.iter().zip(expected) {
            assert_eq!(
                candidate.overrides,
                set(&[("epochCount", epochs), ("learningRate", rate)])
            );
            assert_eq!(
                candidate.hyper_parameters,
                set(&[
                    ("batchSize", "8"),
                    ("epochCount", epochs),
                    ("learningRate", rate)
                ])
            );
        }
        // [sweep.grid] is the same grid.
        let nested = parse(
            "[sweep]\nmax_concurrent_jobs = 3\n[sweep.grid]\nlearningRate = [\"0.00001\", 0.00005]\nepochCount = [1, \"2\"]\n",
        )
        .unwrap();
        assert_eq!(nested, sweep);
    }

    #[test]
    fn a_list_gives_one_candidate_per_set_in_order() {
        let sweep = parse(
            "[sweep]\n[[sweep.candidates]]\nlearningRate = \"0.0001\"\n[[sweep.candidates]]\nepochCount = 3\nlearningRate = \"0.00002\"\n",
        )
        .unwrap();
        let candidates = sweep.expand(&base()).unwrap();
        assert_eq!(candidates.len(), 2);
        assert_eq!(
            candidates[0].hyper_parameters,
            set(&[
                ("batchSize", "8"),
                ("epochCount", "1"),
                ("learningRate", "0.0001")
            ])
        );
        assert_eq!(
            candidates[1].hyper_parameters,
            set(&[
                ("batchSize", "8"),
                ("epochCount", "3"),
                ("learningRate", "0.00002")
            ])
        );
        assert_eq!(candidates[1].overrides.len(), 2);
    }

    #[test]
    fn the_bounds_are_checked_before_expanding() {
        // 5 x 5 x 5 = 125 candidates against the default bound of 16.
        let five = "[\"1\", \"2\", \"3\", \"4\", \"5\"]";
        let sweep = parse(&format!("[sweep]\na = {five}\nb = {five}\nc = {five}\n")).unwrap();
        assert_eq!(sweep.count(), 125);
        let error = sweep.expand(&base()).unwrap_err();
        assert!(error.contains("gives 125 candidates"), "{error}");
        assert!(error.contains("max_candidates = 16"), "{error}");
        // A grid too large for usize saturates instead of wrapping.
        let mut huge = SweepConfig::default();
        for axis in 0..20 {
            huge.grid.insert(
                format!("p{axis}"),
                (0..1000).map(|v| v.to_string()).collect(),
            );
        }
        assert_eq!(huge.count(), usize::MAX);
        assert!(huge.expand(&base()).is_err());

        for (text, message) in [
            ("[sweep]\nmax_concurrent_jobs = 2\n", "no candidates"),
            (
                "[sweep]\na = [\"1\"]\nmax_concurrent_jobs = 0\n",
                "max_concurrent_jobs must be 1 to 20, not 0",
            ),
            (
                "[sweep]\na = [\"1\"]\nmax_concurrent_jobs = 21\n",
                "max_concurrent_jobs must be 1 to 20",
            ),
            (
                "[sweep]\na = [\"1\"]\nmax_candidates = 101\n",
                "max_candidates must be 1 to 100",
            ),
            ("[sweep]\na = []\n", "sweep.a: the list of values is empty"),
            ("[sweep]\na = [\"1\", 1]\n", "\"1\" is listed twice"),
            ("[sweep]\na = [\" \"]\n", "value 1 is empty"),
            (
                "[sweep]\na = [\"1\"]\n[[sweep.candidates]]\na = \"2\"\n",
                "not both",
            ),
            ("[sweep]\n[[sweep.candidates]]\n", "an empty set"),
            (
                "[sweep]\n[[sweep.candidates]]\nepochCount = \"2\"\n[[sweep.candidates]]\nepochCount = 2\n",
                "candidates c1 and c2 have the same hyper-parameters (epochCount=2)",
            ),
        ] {
            let sweep = parse(text).unwrap();
            let error = sweep.expand(&base()).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
        let sweep = parse("[sweep]\na = [\"1\", \"2\", \"3\"]\nmax_candidates = 3\n").unwrap();
        assert_eq!(sweep.expand(&base()).unwrap().len(), 3);
        let sweep = parse("[sweep]\na = [\"1\", \"2\", \"3\"]\nmax_candidates = 2\n").unwrap();
        assert!(sweep.expand(&base()).is_err());
    }

    #[test]
    fn typos_and_scalars_are_refused_at_parse_time() {
        let error = parse("[sweep]\nmax_concurent_jobs = 2\na = [\"1\"]\n").unwrap_err();
        assert!(
            error.contains("sweep.max_concurent_jobs: unknown setting"),
            "{error}"
        );
        let error = parse("[sweep]\nlearningRate = \"0.1\"\n").unwrap_err();
        assert!(
            error.contains("[customization] hyper_parameters"),
            "{error}"
        );
        let error = parse("[sweep]\na = [[1]]\n").unwrap_err();
        assert!(
            error.contains("grid values must be strings or numbers"),
            "{error}"
        );
        let error = parse("[sweep]\ncorrection = \"sidak\"\na = [\"1\"]\n").unwrap_err();
        assert!(error.contains("sweep.correction"), "{error}");
        let error = parse("[sweep]\nmax_candidates = -1\na = [\"1\"]\n").unwrap_err();
        assert!(error.contains("whole number"), "{error}");
        let sweep = parse("[sweep]\ncorrection = \"bonferroni\"\na = [\"1\"]\n").unwrap();
        assert_eq!(sweep.correction, Correction::Bonferroni);
    }

    #[test]
    fn the_config_round_trips_through_json() {
        let sweep =
            parse("[sweep]\nlearningRate = [\"0.00001\", \"0.00005\"]\nmax_candidates = 4\n")
                .unwrap();
        let json = serde_json::to_string(&sweep).unwrap();
        let back: SweepConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sweep);
    }

    #[test]
    fn candidate_names_and_tokens_are_distinct_and_stable() {
        let run = run_names("bertscore-r1", "bertscore-r1");
        let names = CandidateNames::of(&run, "c3");
        assert_eq!(names.job, "bertscore-r1-c3");
        assert_eq!(names.custom_model, "bertscore-r1-c3");
        assert_eq!(names.serving, "bertscore-r1-c3-pt");
        let deployed = ResourceNames {
            serving_kind: ServingKind::Deployment,
            ..run.clone()
        };
        assert_eq!(
            CandidateNames::of(&deployed, "c3").serving,
            "bertscore-r1-c3-od"
        );
        let custom = ResourceNames {
            throughput: "my-serving".into(),
            ..run
        };
        assert_eq!(CandidateNames::of(&custom, "c3").serving, "my-serving-c3");
        assert_eq!(job_token("r1", "c2"), "r1-c2-job");
        let mut record = ServingRecord::new(ServingKind::Throughput, "x");
        assert_eq!(record.token(&serving_scope("r1", "c2")), "r1-c2-pt");
        record.deleted = true;
        record.recreate();
        assert_eq!(record.token(&serving_scope("r1", "c2")), "r1-c2-pt1");
    }

    #[test]
    fn long_names_are_refused() {
        let sweep = parse("[sweep]\na = [\"1\", \"2\"]\n").unwrap();
        let run = ResourceNames {
            job: "j".repeat(61),
            ..run_names("j", "m")
        };
        let error = sweep
            .validate(&base(), &run, Path::new("x.toml"))
            .unwrap_err();
        assert!(
            error.to_string().contains("customization.job_name"),
            "{error}"
        );
        let run = ResourceNames {
            job: "j".into(),
            ..run
        };
        sweep.validate(&base(), &run, Path::new("x.toml")).unwrap();
    }
}
