//! The public entry point: [`Scorer`] loads a model once and scores candidate/reference pairs.
//!
//! A score is computed as bert_score's `score()` does: every (candidate, reference) pair is
//! flattened out, each distinct text is tokenized and embedded once (in length-sorted batches),
//! each pair is greedily matched, a candidate with several references keeps the maximum of each of
//! P, R and F, and the optional baseline rescales the result.

mod encoder;
mod options;
mod pairwise;
mod report;
mod warnings;
mod window;

pub use options::{
    Backend, DEFAULT_CHUNK_SIZE, DevicePreference, IdfMode, LongTexts, Precision, ScorerOptions,
};
pub use pairwise::EmbeddedTexts;
pub use report::{PairScore, ScoreReport, Timings, TokenSimilarity};

use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

use candle_core::{DType, Device};
use rayon::prelude::*;

use self::encoder::{Layers, LoadedEncoder};
use self::warnings::Notes;
use crate::idf::{DocumentFrequencies, TokenWeights};
use crate::matching::{self, GroupLengths, GroupMaxima, TokenVectors};
use crate::models;
use crate::precision::{self, FastPath, KernelChoice, Run, Target};
use crate::registry::{self, BaselineOrigin};
use crate::tokenize::{self, TextTokenizer, TokenizedText};
use crate::{EngineError, Result};

/// A loaded model plus the scoring settings.
pub struct Scorer {
    options: ScorerOptions,
    num_layers: usize,
    tokenizer: TextTokenizer,
    encoder: LoadedEncoder,
    /// Which kernels run the encoder, and why.
    kernel: KernelChoice,
    device: Device,
    /// Present when `options.threads` asks for a specific number of workers; everything (tokenizing,
    /// candle's GEMM, matching) runs inside it.
    pool: Option<rayon::ThreadPool>,
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
        // The same bounds as ScorerSettings::validate, for options built directly.
        crate::settings::check_sizes(options.batch_size, options.threads, options.chunk_size)?;
        let config_path = dir.join("config.json");
        let config = tokenize::read_json(&config_path)?;
        let model_config = models::ModelConfig::from_file(&config_path)?;
        let max_layers = model_config.num_hidden_layers();
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
            DevicePreference::Cuda(ordinal) => {
                Device::new_cuda(ordinal).map_err(|e| EngineError::UnsupportedDevice {
                    device: format!("cuda:{ordinal}"),
                    reason: e.to_string(),
                })?
            }
        };
        // Which kernels run, decided from the request, the device, the CPU's instruction sets and
        // whether the model has a fast path (known once its layers are loaded: reloaded in the
        // fallback dtype if it has none).
        let target = match device {
            Device::Cpu => Target::Cpu,
            _ => Target::Cuda,
        };
        let isa = bertscore_kernels::Isa::detect();
        let path = match options.backend {
            Backend::Auto => FastPath::Available,
            Backend::Candle => FastPath::NotAsked,
        };
        let mut kernel = precision::choose(options.precision, target, path, isa)?;
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

        let mut tokenizer = TextTokenizer::load(dir, &config)?;
        if let LongTexts::Window { stride } = options.long_texts {
            let content = tokenizer.max_length().saturating_sub(2);
            if let Some(stride) = stride
                && !(1..=content).contains(&stride)
            {
                return Err(EngineError::InvalidOption {
                    name: "window_stride".into(),
                    message: format!(
                        "{stride} is out of range 1..={content} (the model's window holds {content} tokens \
                         besides its two special tokens)"
                    ),
                });
            }
            tokenizer = tokenizer.without_truncation();
        }
        let load = |run: Run| {
            // The fast path reads the checkpoint in f32 and converts what it packs itself.
            let dtype = match run {
                Run::Candle(dtype) => dtype,
                Run::Packed(_) => DType::F32,
            };
            models::load_encoder(dir, &model_config, num_layers, dtype, &device)
        };
        let mut candle_encoder = load(kernel.run)?;
        let encoder = match kernel.run {
            Run::Packed(format) => match candle_encoder.fast_encoder(format) {
                Some(fast) => {
                    LoadedEncoder::Packed(fast.map_err(|source| EngineError::ModelLoad {
                        dir: dir.clone(),
                        source,
                    })?)
                }
                None => {
                    kernel = precision::choose(
                        options.precision,
                        target,
                        FastPath::NotForThisModel,
                        isa,
                    )?;
                    if kernel.run != Run::Candle(DType::F32) {
                        candle_encoder = load(kernel.run)?;
                    }
                    LoadedEncoder::Candle(candle_encoder)
                }
            },
            Run::Candle(_) => LoadedEncoder::Candle(candle_encoder),
        };
        Ok(Self {
            options,
            num_layers,
            tokenizer,
            encoder,
            kernel,
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

    /// Changes how tokens are weighted; the model stays loaded (bert_score's `BERTScorer.compute_idf`).
    pub fn set_idf(&mut self, idf: IdfMode) {
        self.options.idf = idf;
    }

    /// Document frequencies of `texts`, each one document tokenized as for scoring (special tokens
    /// included). Counts of the parts of a corpus add up to the corpus's
    /// ([`DocumentFrequencies::merge`]), so idf over a distributed dataset can be computed part by part and
    /// passed back as [`IdfMode::Weights`].
    pub fn document_frequencies<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
    ) -> Result<DocumentFrequencies> {
        self.in_pool(|| {
            let mut frequencies = DocumentFrequencies::default();
            for chunk in texts.chunks(self.options.chunk_size.max(1)) {
                for tokenized in self.tokenizer.encode_all(chunk)? {
                    frequencies.add(&tokenized.ids);
                }
            }
            Ok(frequencies)
        })
    }

    /// The options the scorer was built with (`num_layers` as given, see [`Scorer::num_layers`]).
    pub fn options(&self) -> &ScorerOptions {
        &self.options
    }

    /// Which kernels run the encoder and why, and whether that is a fallback to say out loud.
    pub fn kernel(&self) -> &KernelChoice {
        &self.kernel
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

    /// The length of each text in tokens as scoring counts it (special tokens included, truncated
    /// to [`Scorer::max_tokens`], or whole with [`LongTexts::Window`]): what each pair's
    /// [`GroupMaxima`] are computed from ([`matching::group_maxima`]).
    pub fn token_lengths<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<usize>> {
        self.in_pool(|| {
            let mut lengths = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(self.options.chunk_size.max(1)) {
                let tokenized = self.tokenizer.encode_all(chunk)?;
                lengths.extend(tokenized.iter().map(|t| t.ids.len()));
            }
            Ok(lengths)
        })
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
        let hash = registry::settings_hash(
            &self.options.model_name,
            self.num_layers,
            &self.options.idf,
            origin,
        );
        // Not bert_score's: windows change what a long text's score means, so the hash says so.
        match self.options.long_texts {
            LongTexts::Truncate => hash,
            LongTexts::Window { stride } => {
                let width = self.tokenizer.max_length().saturating_sub(2);
                let stride = stride.unwrap_or((width / 2).max(1));
                format!("{hash}_long-texts=window(stride={stride})")
            }
        }
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
        self.in_pool(|| self.score_in_pool(cands, refs, Layers::Last, Groups::OfInput, progress))
    }

    /// As [`Scorer::score_with_progress`], and also P, R and F at every layer from the embedding
    /// output (0) to the scorer's layer, from the same forward passes (bert_score's
    /// `all_layers=True`), in [`ScoreReport::layers`]. Layer `k` equals scoring with
    /// `num_layers = k`; the per-layer scores are not rescaled (see [`crate::BaselineTable`]).
    pub fn score_all_layers(
        &self,
        cands: &[String],
        refs: &[Vec<String>],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ScoreReport> {
        self.in_pool(|| self.score_in_pool(cands, refs, Layers::All, Groups::OfInput, progress))
    }

    /// Scores a part of a larger input (a shard, a Ray batch) as one call over the whole input
    /// scores it: `group_maxima[p]` holds the [`GroupMaxima`] of this call's flattened pair `p` (for
    /// each candidate in order, one pair per reference) computed over the whole input, with
    /// [`matching::group_maxima`] from [`Scorer::token_lengths`]. However the input is split, the
    /// parts' scores then equal the whole input's. With `all_layers`, [`ScoreReport::layers`] is
    /// filled as by [`Scorer::score_all_layers`]. idf must come from the whole input too: set
    /// [`IdfMode::Weights`] ([`Scorer::document_frequencies`] of each part, merged).
    ///
    /// A pair longer than its given maxima is an error ([`EngineError::InvalidOption`]
    /// `group_maxima`): the maxima were counted with another tokenizer or over other texts.
    pub fn score_part(
        &self,
        cands: &[String],
        refs: &[Vec<String>],
        group_maxima: &[GroupMaxima],
        all_layers: bool,
    ) -> Result<ScoreReport> {
        let layers = if all_layers {
            Layers::All
        } else {
            Layers::Last
        };
        let groups = Groups::Given(group_maxima);
        self.in_pool(|| self.score_in_pool(cands, refs, layers, groups, &|_, _| {}))
    }

    /// Token-level similarities of one pair, for heatmaps.
    pub fn token_similarity(&self, candidate: &str, reference: &str) -> Result<TokenSimilarity> {
        let score = self
            .score(&[candidate.to_string()], &[vec![reference.to_string()]])?
            .scores[0];
        self.in_pool(|| {
            let tokenized = self.tokenizer.encode_all(&[candidate, reference])?;
            let embedded = self.embed(
                &tokenized,
                Layers::Last,
                &|_, _| {},
                &mut Timings::default(),
            )?;
            let (cand_len, ref_len) = (tokenized[0].ids.len(), tokenized[1].ids.len());
            let full =
                matching::similarity_matrix(embedded.at(0, 0), embedded.at(1, 0), embedded.hidden);
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
        layers: Layers,
        groups: Groups,
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
        let pairs: usize = refs.iter().map(Vec::len).sum();
        if let Groups::Given(maxima) = groups
            && maxima.len() != pairs
        {
            return Err(EngineError::InvalidOption {
                name: "group_maxima".into(),
                message: format!(
                    "{} entries for {pairs} flattened pairs ({} candidates): one per (candidate, reference) pair",
                    maxima.len(),
                    cands.len()
                ),
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

        let flat = Flattened::new(cands, refs);
        let mut scores = Scores {
            last: Vec::with_capacity(cands.len()),
            layers: Vec::new(),
        };
        let mut notes = Notes::default();
        let mut done = 0;
        progress(done, total);
        for (range, distinct) in chunks.into_iter().zip(chunk_texts) {
            let chunk_progress = |d: usize| progress(done + d, total);
            let count = distinct.texts.len();
            self.score_chunk(
                &flat,
                range,
                distinct,
                &weights,
                layers,
                groups,
                &chunk_progress,
                &mut scores,
                &mut notes,
                &mut timings,
            )?;
            done += count;
        }
        let warnings = self.warnings(&notes);
        Ok(ScoreReport {
            scores: scores.last,
            layers: scores.layers,
            warnings,
            timings,
        })
    }

    /// Scores the candidates `chunk` of the input and appends their scores: tokenize and embed each
    /// distinct text of the chunk once, match every pair in parallel (padded as bert_score's groups
    /// of 64 pairs pad it) at each layer asked for, take the maximum over each candidate's
    /// references, rescale the scorer's layer.
    #[allow(clippy::too_many_arguments)]
    fn score_chunk(
        &self,
        flat: &Flattened,
        chunk: Range<usize>,
        distinct: DistinctTexts,
        weights: &TokenWeights,
        layers: Layers,
        groups: Groups,
        progress: &(dyn Fn(usize) + Sync),
        scores: &mut Scores,
        notes: &mut Notes,
        timings: &mut Timings,
    ) -> Result<()> {
        let started = Instant::now();
        let tokenized = self.tokenizer.encode_all(&distinct.texts)?;
        let text_weights: Vec<Vec<f64>> = tokenized
            .par_iter()
            .map(|t| weights.weights_of(&t.ids))
            .collect();
        let chunk_pairs = flat.pairs_of(chunk.clone());
        let maxima: Vec<GroupMaxima> = match groups {
            Groups::OfInput => {
                let lengths =
                    self.group_lengths(flat, chunk_pairs.clone(), &distinct, &tokenized)?;
                chunk_pairs.clone().map(|p| lengths.maxima(p)).collect()
            }
            Groups::Given(all) => {
                let given = &all[chunk_pairs.clone()];
                check_maxima(given, chunk_pairs.start, &distinct.pairs, &tokenized)?;
                given.to_vec()
            }
        };
        timings.tokenize += started.elapsed();
        let DistinctTexts { texts, pairs, .. } = distinct;

        let started = Instant::now();
        let embedded = self.embed(&tokenized, layers, &|done, _| progress(done), timings)?;
        timings.encode += started.elapsed();

        let started = Instant::now();
        let view = |slot: usize, block: usize| TokenVectors {
            vectors: embedded.at(slot, block),
            weights: &text_weights[slot],
        };
        // Per pair, its score at each layer block (the scorer's layer last) and what matching noticed.
        let pair_scores: Vec<(Vec<PairScore>, matching::MatchNotes)> = pairs
            .par_iter()
            .enumerate()
            .map(|(k, &(_, c, r))| {
                let padded = maxima[k].padded(tokenized[c].ids.len(), tokenized[r].ids.len());
                let mut notes = matching::MatchNotes::default();
                let per_layer = (0..embedded.layers)
                    .map(|block| {
                        let (score, n) = matching::score_pair(
                            view(c, block),
                            view(r, block),
                            embedded.hidden,
                            padded,
                        );
                        notes = n;
                        score
                    })
                    .collect();
                (per_layer, notes)
            })
            .collect();

        // Maximum over each candidate's references, P, R and F separately (NaN wins, as in torch.max).
        let mut best: Vec<Option<Vec<PairScore>>> = vec![None; chunk.len()];
        for (&(i, _, _), (score, _)) in pairs.iter().zip(&pair_scores) {
            match &mut best[i] {
                None => best[i] = Some(score.clone()),
                Some(b) => {
                    for (b, s) in b.iter_mut().zip(score) {
                        *b = PairScore {
                            precision: nan_max(b.precision, s.precision),
                            recall: nan_max(b.recall, s.recall),
                            f1: nan_max(b.f1, s.f1),
                        };
                    }
                }
            }
        }
        for per_layer in best {
            let per_layer = per_layer.expect("every candidate has a reference");
            let last = *per_layer.last().expect("at least one layer");
            scores.last.push(match &self.options.baseline {
                Some(baseline) => baseline.rescale(last),
                None => last,
            });
            if layers == Layers::All {
                scores.layers.push(per_layer);
            }
        }
        timings.matching += started.elapsed();

        let last_layer: Vec<(PairScore, matching::MatchNotes)> = pair_scores
            .iter()
            .map(|(per_layer, n)| (*per_layer.last().expect("at least one layer"), *n))
            .collect();
        notes.record(
            chunk.start,
            &texts,
            &tokenized,
            &pairs,
            &last_layer,
            self.tokenizer.max_length(),
        );
        Ok(())
    }

    /// The longest candidate and reference of each of bert_score's groups of 64 pairs that the
    /// chunk's pairs `chunk_pairs` fall in. A chunk need not start or end at a group boundary: the
    /// texts of the neighbouring chunks' pairs in its first and last group are tokenized here too,
    /// so the groups, and the scores, do not depend on the chunk size.
    fn group_lengths(
        &self,
        flat: &Flattened,
        chunk_pairs: Range<usize>,
        distinct: &DistinctTexts,
        tokenized: &[TokenizedText],
    ) -> Result<GroupLengths> {
        let cover = GroupLengths::covering(chunk_pairs.clone(), flat.total());
        let outside = || {
            (cover.start..chunk_pairs.start)
                .chain(chunk_pairs.end..cover.end)
                .flat_map(|p| {
                    let (cand, reference) = flat.pair(p);
                    [cand, reference]
                })
        };
        let mut missing: Vec<&str> = outside()
            .filter(|text| !distinct.slot_of.contains_key(text))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let extra = self.tokenizer.encode_all(&missing)?;
        let len_of = |text: &str| match distinct.slot_of.get(text) {
            Some(&slot) => tokenized[slot].ids.len(),
            None => {
                let index = missing.binary_search(&text).expect("tokenized above");
                extra[index].ids.len()
            }
        };
        Ok(GroupLengths::new(
            cover.start,
            cover.map(|p| {
                let (cand, reference) = flat.pair(p);
                (len_of(cand), len_of(reference))
            }),
        ))
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
            IdfMode::Off => Ok(TokenWeights::uniform(&self.tokenizer.zero_weight_ids())),
            IdfMode::References => idf_over(&mut refs.iter().flatten()),
            IdfMode::Corpus(corpus) => idf_over(&mut corpus.iter()),
            IdfMode::Weights(weights) => Ok(weights.clone()),
        }
    }
}

/// Where each flattened pair's padding-group maxima come from.
#[derive(Clone, Copy)]
enum Groups<'a> {
    /// bert_score's groups of the input scored.
    OfInput,
    /// Given per flattened pair, computed over a larger input ([`Scorer::score_part`]).
    Given(&'a [GroupMaxima]),
}

/// Given maxima cannot be shorter than the pair itself (`first` is the flattened index of the
/// chunk's first pair, `pairs` its (candidate, candidate slot, reference slot) triples).
fn check_maxima(
    given: &[GroupMaxima],
    first: usize,
    pairs: &[(usize, usize, usize)],
    tokenized: &[TokenizedText],
) -> Result<()> {
    for (k, (maxima, &(_, c, r))) in given.iter().zip(pairs).enumerate() {
        let (cand_len, ref_len) = (tokenized[c].ids.len(), tokenized[r].ids.len());
        if cand_len > maxima.candidate || ref_len > maxima.reference {
            return Err(EngineError::InvalidOption {
                name: "group_maxima".into(),
                message: format!(
                    "flattened pair {}: candidate {cand_len} and reference {ref_len} tokens, longer than its \
                     group's given longest candidate {} and reference {}: the maxima were counted with another \
                     tokenizer or over other texts",
                    first + k,
                    maxima.candidate,
                    maxima.reference
                ),
            });
        }
    }
    Ok(())
}

/// What the chunks of one input add up to.
struct Scores {
    /// Per candidate, at the scorer's layer (rescaled when asked).
    last: Vec<PairScore>,
    /// Per candidate, at every layer 0..=num_layers, raw ([`Layers::All`] only).
    layers: Vec<Vec<PairScore>>,
}

/// The input as bert_score flattens it: for each candidate in order, one pair per reference.
struct Flattened<'a> {
    cands: &'a [String],
    refs: &'a [Vec<String>],
    /// `starts[i]`: flattened index of candidate `i`'s first pair; `starts[cands.len()]` = total.
    starts: Vec<usize>,
}

impl<'a> Flattened<'a> {
    fn new(cands: &'a [String], refs: &'a [Vec<String>]) -> Self {
        let mut starts = Vec::with_capacity(cands.len() + 1);
        let mut total = 0;
        starts.push(0);
        for group in refs {
            total += group.len();
            starts.push(total);
        }
        Self {
            cands,
            refs,
            starts,
        }
    }

    fn total(&self) -> usize {
        self.starts[self.cands.len()]
    }

    /// The flattened pairs of the candidates `cands`.
    fn pairs_of(&self, cands: Range<usize>) -> Range<usize> {
        self.starts[cands.start]..self.starts[cands.end]
    }

    /// The (candidate, reference) texts of flattened pair `p`.
    fn pair(&self, p: usize) -> (&'a str, &'a str) {
        let i = self.starts.partition_point(|&start| start <= p) - 1;
        (&self.cands[i], &self.refs[i][p - self.starts[i]])
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
