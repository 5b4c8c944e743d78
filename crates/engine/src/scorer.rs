//! The public entry point: [`Scorer`] loads a model once and scores candidate/reference pairs.
//!
//! A score is computed as bert_score's `score()` does: every (candidate, reference) pair is
//! flattened out, each distinct text is tokenized and embedded once (in length-sorted batches),
//! each pair is greedily matched, a candidate with several references keeps the maximum of each of
//! P, R and F, and the optional baseline rescales the result.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::idf::{DocumentFrequencies, TokenWeights};
use crate::matching::{self, TokenVectors};
use crate::models::packed::{PackedEncoder, PackedPrecision};
use crate::models::{self, Architecture, Encoder};
use crate::registry::{self, BaselineOrigin};
use crate::tokenize::{self, TextTokenizer, TokenizedText};
use crate::{Baseline, EngineError, Result};

/// How tokens are weighted when averaging matched similarities.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum IdfMode {
    /// Every token weighs 1, the special tokens ([CLS]/[SEP], <s>/</s>) weigh 0 (bert_score's `idf=False`).
    #[default]
    Off,
    /// idf = log((M+1)/(df+1)) computed over the references being scored, flattened (bert_score's `idf=True`).
    References,
    /// idf computed over this corpus instead (bert_score's `idf=<dict>` built with `get_idf_dict(corpus)`).
    Corpus(Vec<String>),
}

/// Numeric precision of the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// Exact mode: matches bert_score to 1e-4.
    #[default]
    F32,
    /// CUDA only (see [`EngineError::UnsupportedPrecision`] on CPU).
    Bf16,
    /// On CPU: f16 products in the linear layers, everything else f32 (the fast CPU mode).
    F16,
}

/// Where the encoder runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DevicePreference {
    #[default]
    Cpu,
    /// CUDA device by ordinal; needs the `cuda` feature.
    Cuda(usize),
}

/// Which implementation runs the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// The CPU fast path ([`crate::models::packed`]) when the model and the CPU fit it (BERT,
    /// RoBERTa, DistilBERT and MiniLM with exact GELU; f32 on AVX-512, f16 on AVX512-FP16),
    /// candle otherwise.
    #[default]
    Auto,
    /// Always candle (padded batches): the reference implementation the fast path is tested against.
    Candle,
}

/// Everything that decides what a score means (model, layer, idf, baseline) and how it is computed
/// (batch size, threads, device, precision). Only the first group changes the numbers.
#[derive(Debug, Clone)]
pub struct ScorerOptions {
    /// A local Hugging Face model directory: config.json, tokenizer.json (+ tokenizer_config.json), model.safetensors.
    pub model_dir: PathBuf,
    /// The name the model is known by (hub id such as `roberta-large`, or the directory); used for the
    /// registry's default layer, the language baseline file and the settings hash.
    pub model_name: String,
    /// Layer whose hidden states are matched (0 = embedding output). `None`: the registry's recommended layer.
    pub num_layers: Option<usize>,
    pub idf: IdfMode,
    /// Rescale with this baseline (bert_score's `rescale_with_baseline=True`).
    pub baseline: Option<Baseline>,
    /// The baseline came from a user's file (bert_score's `baseline_path`) rather than bert_score's
    /// own table; only changes the hash (`-custom-rescaled` instead of `-rescaled`).
    pub custom_baseline: bool,
    /// Texts per encoder batch (on the CPU fast path also cut at 8192 tokens). Scores do not depend on it.
    pub batch_size: usize,
    /// Worker threads (rayon + candle's GEMM). `None`: all cores. Scores do not depend on it.
    pub threads: Option<usize>,
    pub device: DevicePreference,
    pub precision: Precision,
    pub backend: Backend,
    /// Candidates scored per chunk. Embeddings live only for their chunk, so memory stays bounded
    /// whatever the number of pairs; idf is computed over all references first, so scores do not
    /// depend on it (a reference shared across chunks is only embedded once per chunk).
    pub chunk_size: usize,
}

/// The default [`ScorerOptions::chunk_size`]: a few hundred MB of embeddings at most for MiniLM-sized
/// models and texts of bert_score's benchmark length.
pub const DEFAULT_CHUNK_SIZE: usize = 4096;

impl ScorerOptions {
    pub fn new(model_dir: impl Into<PathBuf>, model_name: impl Into<String>) -> Self {
        Self {
            model_dir: model_dir.into(),
            model_name: model_name.into(),
            num_layers: None,
            idf: IdfMode::Off,
            baseline: None,
            custom_baseline: false,
            batch_size: 64,
            threads: None,
            device: DevicePreference::Cpu,
            precision: Precision::F32,
            backend: Backend::Auto,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// One pair's (or one candidate's, with several references) BERTScore.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The scores, in input order, and what was noticed on the way (empty texts, truncation).
#[derive(Debug, Clone)]
pub struct ScoreReport {
    pub scores: Vec<PairScore>,
    pub warnings: Vec<String>,
    /// Where the time went (for `bertscore bench`).
    pub timings: Timings,
}

/// Time per stage and the amount of work done, summed over chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Tokenizing (including the idf pass over the references or corpus).
    pub tokenize: Duration,
    /// Running the encoder, including batch assembly and normalisation of its output.
    pub encode: Duration,
    /// Greedy matching, reference maxima and rescaling.
    pub matching: Duration,
    /// Texts embedded (each distinct text once per chunk).
    pub texts: usize,
    /// Tokens embedded, special tokens included.
    pub tokens: usize,
    /// Token positions the encoder computed, padding included (`tokens` + padding).
    pub padded_tokens: usize,
}

/// The token-by-token cosine similarities of one pair (for bert_score's `plot_example`-style heatmaps).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenSimilarity {
    /// Candidate tokens as strings, without special tokens.
    pub candidate_tokens: Vec<String>,
    /// Reference tokens as strings, without special tokens.
    pub reference_tokens: Vec<String>,
    /// `similarity[i][j]` = cosine(candidate token i, reference token j), possibly rescaled.
    pub similarity: Vec<Vec<f32>>,
    pub score: PairScore,
}

/// A loaded model plus the scoring settings.
pub struct Scorer {
    options: ScorerOptions,
    num_layers: usize,
    tokenizer: TextTokenizer,
    encoder: LoadedEncoder,
    device: Device,
    /// Present when `options.threads` asks for a specific number of workers; everything (tokenizing,
    /// candle's GEMM, matching) runs inside it.
    pool: Option<rayon::ThreadPool>,
}

/// The encoder, on the path it runs.
enum LoadedEncoder {
    Candle(Box<dyn Encoder>),
    Packed(Box<PackedEncoder>),
}

impl LoadedEncoder {
    fn hidden_size(&self) -> usize {
        match self {
            Self::Candle(encoder) => encoder.hidden_size(),
            Self::Packed(encoder) => encoder.hidden_size(),
        }
    }
}

/// Most tokens in one batch on the fast path (64 texts of bert_score's benchmark length are ~1,600).
const PACKED_BATCH_TOKENS: usize = 8192;

/// Consecutive runs of `order` with at most `max_texts` texts and, unless a single text exceeds
/// it alone, at most `max_tokens` tokens.
fn batches(
    order: &[usize],
    max_texts: usize,
    max_tokens: usize,
    len: impl Fn(usize) -> usize,
) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        let mut tokens = 0;
        while end < order.len() && end - start < max_texts {
            let next = len(order[end]);
            if end > start && tokens + next > max_tokens {
                break;
            }
            tokens += next;
            end += 1;
        }
        out.push(&order[start..end]);
        start = end;
    }
    out
}

/// Embedded texts: per distinct text, its `len × hidden` L2-normalised token vectors.
struct Embeddings {
    hidden: usize,
    vectors: Vec<Vec<f32>>,
}

impl Scorer {
    /// Loads the tokenizer and the encoder truncated at the chosen layer.
    pub fn new(options: ScorerOptions) -> Result<Self> {
        let dir = &options.model_dir;
        for file in ["config.json", "tokenizer.json"] {
            if !dir.join(file).is_file() {
                return Err(EngineError::MissingModelFile {
                    dir: dir.clone(),
                    file: file.into(),
                });
            }
        }
        if options.batch_size == 0 {
            return Err(EngineError::InvalidOption {
                name: "batch_size".into(),
                message: "must be at least 1".into(),
            });
        }
        if options.threads == Some(0) {
            return Err(EngineError::InvalidOption {
                name: "threads".into(),
                message: "must be at least 1".into(),
            });
        }
        let config_path = dir.join("config.json");
        let config = tokenize::read_json(&config_path)?;
        let arch = Architecture::from_config(&config, &config_path)?;

        let max_layers =
            arch.num_hidden_layers(&config)
                .ok_or_else(|| EngineError::InvalidFile {
                    path: config_path.clone(),
                    message: "no layer count (num_hidden_layers / n_layers)".into(),
                })?;
        let num_layers = match options.num_layers {
            Some(n) => n,
            None => registry::default_layer(&options.model_name).ok_or_else(|| {
                EngineError::UnknownDefaultLayer {
                    model: options.model_name.clone(),
                }
            })?,
        };
        if num_layers > max_layers {
            return Err(EngineError::LayerOutOfRange {
                model: options.model_name.clone(),
                requested: num_layers,
                max: max_layers,
            });
        }

        let device = match options.device {
            DevicePreference::Cpu => Device::Cpu,
            DevicePreference::Cuda(ordinal) => Device::new_cuda(ordinal)?,
        };
        // The fast path only where its vector kernels run; its portable versions are there for
        // correctness (and tests), and candle is faster than them.
        let isa = bertscore_kernels::Isa::detect();
        let packed_precision = match (options.backend, &device, options.precision) {
            (Backend::Auto, Device::Cpu, Precision::F32) if isa.avx512f => {
                Some(PackedPrecision::F32)
            }
            (Backend::Auto, Device::Cpu, Precision::F16) if isa.avx512fp16 => {
                Some(PackedPrecision::F16)
            }
            _ => None,
        };
        let dtype = match (options.precision, &device) {
            // The fast path reads the checkpoint in f32 and converts what it packs itself.
            _ if packed_precision.is_some() => DType::F32,
            (Precision::F32, _) => DType::F32,
            (Precision::F16, _) => DType::F16,
            (Precision::Bf16, Device::Cpu) => {
                return Err(EngineError::UnsupportedPrecision {
                    precision: "bf16".into(),
                    device: "CPU".into(),
                    hint: "use f16 on CPU: its products run on AVX512-FP16 at about 2.2x the f32 rate, while bf16 dot \
                           products (AVX512-BF16) run at half the f32 rate on these CPUs and candle has no bf16 CPU \
                           matrix product; bf16 runs on CUDA"
                        .into(),
                });
            }
            (Precision::Bf16, _) => DType::BF16,
        };

        let pool = match options.threads {
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| EngineError::InvalidOption {
                        name: "threads".into(),
                        message: e.to_string(),
                    })?,
            ),
            None => None,
        };

        let tokenizer = TextTokenizer::load(dir, &config)?;
        let candle_encoder = models::load_encoder(dir, &config, arch, num_layers, dtype, &device)?;
        let packed_weights = match packed_precision {
            Some(precision) => candle_encoder
                .post_ln_weights()
                .map(|weights| weights.map(|w| (w, precision))),
            None => None,
        };
        let encoder = match packed_weights {
            Some(weights) => {
                let (weights, precision) = weights.map_err(|source| EngineError::ModelLoad {
                    dir: dir.clone(),
                    source,
                })?;
                LoadedEncoder::Packed(Box::new(PackedEncoder::new(weights, precision)))
            }
            None => LoadedEncoder::Candle(candle_encoder),
        };
        Ok(Self {
            options,
            num_layers,
            tokenizer,
            encoder,
            device,
            pool,
        })
    }

    /// The layer whose hidden states are used.
    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    /// The name the model is reported under.
    pub fn model_name(&self) -> &str {
        &self.options.model_name
    }

    /// The options the scorer was built with (`num_layers` as given, see [`Scorer::num_layers`]).
    pub fn options(&self) -> &ScorerOptions {
        &self.options
    }

    /// Which implementation runs the encoder: `cpu-kernels` (the fast path) or `candle`.
    pub fn encoder_name(&self) -> &'static str {
        match self.encoder {
            LoadedEncoder::Candle(_) => "candle",
            LoadedEncoder::Packed(_) => "cpu-kernels",
        }
    }

    /// Width of the encoder's hidden states.
    pub fn hidden_size(&self) -> usize {
        self.encoder.hidden_size()
    }

    /// Texts are truncated to this many tokens (special tokens included), as bert_score does.
    pub fn max_tokens(&self) -> usize {
        self.tokenizer.max_length()
    }

    /// Token ids of `text` as bert_score's `sent_encode` produces them (special tokens included).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(text)?.ids)
    }

    /// bert_score's settings string, e.g.
    /// `roberta-large_L17_no-idf_version=0.3.12(hug_trans=4.46.3)-rescaled_fast-tokenizer`
    /// (bert_score 0.3.13 reports its version as 0.3.12; see [`registry::BERT_SCORE_VERSION`]).
    pub fn hash(&self) -> String {
        let origin = self.options.baseline.map(|_| {
            if self.options.custom_baseline {
                BaselineOrigin::Custom
            } else {
                BaselineOrigin::Builtin
            }
        });
        registry::settings_hash(
            &self.options.model_name,
            self.num_layers,
            &self.options.idf,
            origin,
        )
    }

    /// Scores `cands[i]` against `refs[i]` (one or more references each). With several references
    /// P, R and F are each the maximum over the references.
    pub fn score(&self, cands: &[String], refs: &[Vec<String>]) -> Result<ScoreReport> {
        self.score_with_progress(cands, refs, &|_, _| {})
    }

    /// As [`Scorer::score`], calling `progress(done, total)` as texts are embedded.
    pub fn score_with_progress(
        &self,
        cands: &[String],
        refs: &[Vec<String>],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ScoreReport> {
        self.in_pool(|| self.score_in_pool(cands, refs, progress))
    }

    /// Token-level similarities of one pair, for heatmaps.
    pub fn token_similarity(&self, candidate: &str, reference: &str) -> Result<TokenSimilarity> {
        let score = self
            .score(&[candidate.to_string()], &[vec![reference.to_string()]])?
            .scores[0];
        self.in_pool(|| {
            let tokenized = self.tokenizer.encode_all(&[candidate, reference])?;
            let embedded = self.embed(&tokenized, &|_, _| {}, &mut Timings::default())?;
            let (cand_len, ref_len) = (tokenized[0].ids.len(), tokenized[1].ids.len());
            let full = matching::similarity_matrix(
                &embedded.vectors[0],
                &embedded.vectors[1],
                embedded.hidden,
            );
            // bert_score's plot_example drops the first and last token ([CLS]/[SEP]) on both axes.
            let inner = |len: usize| 1..len.saturating_sub(1).max(1);
            let similarity = full[inner(cand_len)]
                .iter()
                .map(|row| {
                    row[inner(ref_len)]
                        .iter()
                        .map(|&s| match &self.options.baseline {
                            Some(b) => b.rescale_similarity(s),
                            None => s,
                        })
                        .collect()
                })
                .collect();
            let strings = |t: &TokenizedText, len: usize| -> Vec<String> {
                t.ids[inner(len)]
                    .iter()
                    .map(|&id| self.tokenizer.token_string(id))
                    .collect()
            };
            Ok(TokenSimilarity {
                candidate_tokens: strings(&tokenized[0], cand_len),
                reference_tokens: strings(&tokenized[1], ref_len),
                similarity,
                score,
            })
        })
    }

    fn in_pool<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    fn score_in_pool(
        &self,
        cands: &[String],
        refs: &[Vec<String>],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ScoreReport> {
        if cands.len() != refs.len() {
            return Err(EngineError::LengthMismatch {
                cands: cands.len(),
                refs: refs.len(),
            });
        }
        if let Some(index) = refs.iter().position(Vec::is_empty) {
            return Err(EngineError::NoReferences { index });
        }
        if self.options.chunk_size == 0 {
            return Err(EngineError::InvalidOption {
                name: "chunk_size".into(),
                message: "must be at least 1".into(),
            });
        }

        let mut timings = Timings::default();
        let started = Instant::now();
        let weights = self.token_weights(refs)?;
        timings.tokenize += started.elapsed();

        let chunks: Vec<Range<usize>> = (0..cands.len())
            .step_by(self.options.chunk_size)
            .map(|start| start..(start + self.options.chunk_size).min(cands.len()))
            .collect();
        let chunk_texts: Vec<DistinctTexts> = chunks
            .iter()
            .map(|range| DistinctTexts::of(&cands[range.clone()], &refs[range.clone()]))
            .collect();
        let total: usize = chunk_texts.iter().map(|d| d.texts.len()).sum();

        let mut scores = Vec::with_capacity(cands.len());
        let mut notes = Notes::default();
        let mut done = 0;
        progress(done, total);
        for (range, distinct) in chunks.into_iter().zip(chunk_texts) {
            let chunk_progress = |d: usize| progress(done + d, total);
            let count = distinct.texts.len();
            self.score_chunk(
                range.start,
                &refs[range],
                distinct,
                &weights,
                &chunk_progress,
                &mut scores,
                &mut notes,
                &mut timings,
            )?;
            done += count;
        }
        let warnings = self.warnings(&notes);
        Ok(ScoreReport {
            scores,
            warnings,
            timings,
        })
    }

    /// Scores the candidates of one chunk (`offset` = index of its first candidate) and appends their
    /// scores: tokenize and embed each distinct text of the chunk once, match every pair in parallel,
    /// take the maximum over each candidate's references, rescale.
    #[allow(clippy::too_many_arguments)]
    fn score_chunk(
        &self,
        offset: usize,
        refs: &[Vec<String>],
        distinct: DistinctTexts,
        weights: &TokenWeights,
        progress: &(dyn Fn(usize) + Sync),
        scores: &mut Vec<PairScore>,
        notes: &mut Notes,
        timings: &mut Timings,
    ) -> Result<()> {
        let DistinctTexts { texts, pairs, .. } = distinct;

        let started = Instant::now();
        let tokenized = self.tokenizer.encode_all(&texts)?;
        let text_weights: Vec<Vec<f64>> = tokenized
            .par_iter()
            .map(|t| weights.weights_of(&t.ids))
            .collect();
        timings.tokenize += started.elapsed();

        let started = Instant::now();
        let embedded = self.embed(&tokenized, &|done, _| progress(done), timings)?;
        timings.encode += started.elapsed();

        let started = Instant::now();
        let view = |slot: usize| TokenVectors {
            vectors: &embedded.vectors[slot],
            weights: &text_weights[slot],
        };
        let pair_scores: Vec<(PairScore, matching::MatchNotes)> = pairs
            .par_iter()
            .map(|&(_, c, r)| matching::score_pair(view(c), view(r), embedded.hidden))
            .collect();

        // Maximum over each candidate's references, P, R and F separately (NaN wins, as in torch.max).
        let mut best: Vec<Option<PairScore>> = vec![None; refs.len()];
        for (&(i, _, _), (score, _)) in pairs.iter().zip(&pair_scores) {
            best[i] = Some(match best[i] {
                None => *score,
                Some(b) => PairScore {
                    precision: nan_max(b.precision, score.precision),
                    recall: nan_max(b.recall, score.recall),
                    f1: nan_max(b.f1, score.f1),
                },
            });
        }
        scores.extend(best.into_iter().map(|s| {
            let s = s.expect("every candidate has a reference");
            match &self.options.baseline {
                Some(baseline) => baseline.rescale(s),
                None => s,
            }
        }));
        timings.matching += started.elapsed();

        notes.record(offset, &texts, &tokenized, &pairs, &pair_scores);
        Ok(())
    }

    /// The weight table the settings ask for: uniform, idf over all the references (flattened,
    /// duplicates counted, as bert_score does), or idf over a separate corpus.
    fn token_weights(&self, refs: &[Vec<String>]) -> Result<TokenWeights> {
        let idf_over = |documents: &mut dyn Iterator<Item = &String>| -> Result<TokenWeights> {
            // Tokenized a chunk at a time: only the document frequencies are kept.
            let mut frequencies = DocumentFrequencies::default();
            let documents: Vec<&String> = documents.collect();
            for chunk in documents.chunks(self.options.chunk_size.max(1)) {
                for tokenized in self.tokenizer.encode_all(chunk)? {
                    frequencies.add(&tokenized.ids);
                }
            }
            Ok(frequencies.into_idf())
        };
        match &self.options.idf {
            IdfMode::Off => Ok(TokenWeights::uniform(
                self.tokenizer.cls_id(),
                self.tokenizer.sep_id(),
            )),
            IdfMode::References => idf_over(&mut refs.iter().flatten()),
            IdfMode::Corpus(corpus) => idf_over(&mut corpus.iter()),
        }
    }

    /// Runs the encoder over all texts, longest first in batches of `batch_size`, and returns each
    /// text's L2-normalised token vectors (padding dropped).
    fn embed(
        &self,
        tokenized: &[TokenizedText],
        progress: &(dyn Fn(usize, usize) + Sync),
        timings: &mut Timings,
    ) -> Result<Embeddings> {
        let hidden = self.encoder.hidden_size();
        let mut order: Vec<usize> = (0..tokenized.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokenized[i].ids.len()));

        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); tokenized.len()];
        let total = tokenized.len();
        let mut done = 0;
        // The fast path computes no padding, so a batch can also be cut at a token budget: its
        // activations (≈ 10 × hidden floats per token) then stay bounded however long the texts.
        let token_budget = match self.encoder {
            LoadedEncoder::Packed(_) => PACKED_BATCH_TOKENS,
            LoadedEncoder::Candle(_) => usize::MAX,
        };
        let batches = batches(&order, self.options.batch_size, token_budget, |i| {
            tokenized[i].ids.len()
        });
        for batch in batches {
            match &self.encoder {
                LoadedEncoder::Packed(encoder) => {
                    let texts: Vec<&[u32]> = batch.iter().map(|&i| &tokenized[i].ids[..]).collect();
                    let tokens: usize = texts.iter().map(|t| t.len()).sum();
                    timings.tokens += tokens;
                    timings.padded_tokens += tokens;
                    encoder.forward(&texts, |index, rows| {
                        let mut text_vectors = rows.to_vec();
                        matching::normalize_rows(&mut text_vectors, hidden);
                        vectors[batch[index]] = text_vectors;
                    })?;
                }
                LoadedEncoder::Candle(encoder) => {
                    let seq = batch
                        .iter()
                        .map(|&i| tokenized[i].ids.len())
                        .max()
                        .unwrap_or(0);
                    let mut ids = vec![self.tokenizer.pad_id(); batch.len() * seq];
                    let mut mask = vec![0u32; batch.len() * seq];
                    for (row, &i) in batch.iter().enumerate() {
                        let text_ids = &tokenized[i].ids;
                        ids[row * seq..row * seq + text_ids.len()].copy_from_slice(text_ids);
                        mask[row * seq..row * seq + text_ids.len()].fill(1);
                        timings.tokens += text_ids.len();
                    }
                    timings.padded_tokens += batch.len() * seq;
                    let ids = Tensor::from_vec(ids, (batch.len(), seq), &self.device)?;
                    let mask = Tensor::from_vec(mask, (batch.len(), seq), &self.device)?;
                    let output = encoder
                        .forward(&ids, &mask)?
                        .to_dtype(DType::F32)?
                        .to_device(&Device::Cpu)?
                        .flatten_all()?
                        .to_vec1::<f32>()?;
                    for (row, &i) in batch.iter().enumerate() {
                        let len = tokenized[i].ids.len();
                        let start = row * seq * hidden;
                        let mut text_vectors = output[start..start + len * hidden].to_vec();
                        matching::normalize_rows(&mut text_vectors, hidden);
                        vectors[i] = text_vectors;
                    }
                }
            }
            timings.texts += batch.len();
            done += batch.len();
            progress(done, total);
        }
        Ok(Embeddings { hidden, vectors })
    }

    /// What bert_score would have printed, and what it silently did (truncation, NaN from idf).
    fn warnings(&self, notes: &Notes) -> Vec<String> {
        let mut warnings = Vec::new();
        for (list, what) in [
            (&notes.empty_candidates, "candidate"),
            (&notes.empty_references, "reference"),
        ] {
            if !list.is_empty() {
                warnings.push(format!(
                    "Empty {what} sentence detected (for candidate {}); setting raw BERTScores to 0.",
                    index_list(list)
                ));
            }
        }
        if !notes.nan_candidates.is_empty() {
            warnings.push(format!(
                "All token weights of a text are 0 (every one of its tokens occurs in every idf document) for candidate {}: its precision or recall is NaN, as in bert_score.",
                index_list(&notes.nan_candidates)
            ));
        }
        if let Some(first) = &notes.first_truncated {
            warnings.push(format!(
                "{} text(s) longer than {} tokens were truncated to {} tokens, as bert_score does (first: {:?}).",
                notes.truncated,
                self.tokenizer.max_length(),
                self.tokenizer.max_length(),
                first
            ));
        }
        warnings
    }
}

/// What matching noticed, over all chunks, by global candidate index.
#[derive(Default)]
struct Notes {
    empty_candidates: Vec<usize>,
    empty_references: Vec<usize>,
    nan_candidates: Vec<usize>,
    truncated: usize,
    first_truncated: Option<String>,
}

impl Notes {
    fn record(
        &mut self,
        offset: usize,
        texts: &[&str],
        tokenized: &[TokenizedText],
        pairs: &[(usize, usize, usize)],
        pair_scores: &[(PairScore, matching::MatchNotes)],
    ) {
        let push = |list: &mut Vec<usize>, i: usize| {
            if list.last() != Some(&i) {
                list.push(i);
            }
        };
        for (&(i, _, _), (score, notes)) in pairs.iter().zip(pair_scores) {
            let i = offset + i;
            if notes.empty_candidate {
                push(&mut self.empty_candidates, i);
            }
            if notes.empty_reference {
                push(&mut self.empty_references, i);
            }
            if score.precision.is_nan() || score.recall.is_nan() {
                push(&mut self.nan_candidates, i);
            }
        }
        for (text, t) in texts.iter().zip(tokenized) {
            if t.truncated {
                self.truncated += 1;
                self.first_truncated
                    .get_or_insert_with(|| text.chars().take(60).collect());
            }
        }
    }
}

/// Each distinct text of a chunk once, in first-seen order (bert_score embeds `set(refs + hyps)`),
/// and the (candidate index in the chunk, candidate slot, reference slot) of every pair.
#[derive(Default)]
struct DistinctTexts<'a> {
    slot_of: HashMap<&'a str, usize>,
    texts: Vec<&'a str>,
    pairs: Vec<(usize, usize, usize)>,
}

impl<'a> DistinctTexts<'a> {
    fn of(cands: &'a [String], refs: &'a [Vec<String>]) -> Self {
        let mut distinct = Self::default();
        for (i, (cand, group)) in cands.iter().zip(refs).enumerate() {
            let cand_slot = distinct.slot(cand);
            for reference in group {
                let ref_slot = distinct.slot(reference);
                distinct.pairs.push((i, cand_slot, ref_slot));
            }
        }
        distinct
    }

    fn slot(&mut self, text: &'a str) -> usize {
        *self.slot_of.entry(text).or_insert_with(|| {
            self.texts.push(text);
            self.texts.len() - 1
        })
    }
}

/// `max` that propagates NaN, like `torch.max`.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// "3, 5, 8" or "3, 5, 8, ... (12 in all)".
fn index_list(indices: &[usize]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = indices.iter().take(SHOWN).map(usize::to_string).collect();
    if indices.len() > SHOWN {
        format!("{}, ... ({} in all)", shown.join(", "), indices.len())
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_respect_text_and_token_limits() {
        let lens = [500, 300, 300, 10, 10, 10, 10];
        let order: Vec<usize> = (0..lens.len()).collect();
        let cut = batches(&order, 3, 600, |i| lens[i]);
        assert_eq!(cut, vec![&[0][..], &[1, 2], &[3, 4, 5], &[6]]);
        // A text longer than the budget still gets a batch of its own.
        assert_eq!(batches(&[0], 3, 100, |i| lens[i]), vec![&[0][..]]);
        assert!(batches(&[], 3, 100, |i| lens[i]).is_empty());
    }
}
