//! The CPU fast path for post-LayerNorm BERT-style encoders (BERT, RoBERTa, DistilBERT, MiniLM).
//!
//! The texts of a batch are laid end to end as token rows: no padding is computed. The linear
//! layers run as one packed-weight product per batch with the bias, GELU and residual fused in
//! (`bertscore-kernels`), attention runs per sequence over its own tokens, LayerNorm per row.
//! It computes the same function as the candle path in `bert.rs`/`distilbert.rs` (the padded
//! keys bert_score masks get softmax weight exactly 0), with different summation orders only.
//!
//! The families describe their weights as [`PostLnWeights`]; this file knows nothing of their
//! checkpoint names.

use bertscore_kernels::{
    Epilogue, Isa, PackedLinear, SequenceSpan, WeightFormat, attention, layer_norm_rows,
};
use candle_core::{DType, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear};
use std::sync::Mutex;

use super::bert::PositionIds;

/// A post-LayerNorm encoder's weights as f32 arrays, gathered from a family's candle modules.
pub struct PostLnWeights {
    pub hidden: usize,
    pub heads: usize,
    /// `vocab × hidden`.
    pub word: Vec<f32>,
    /// `max_positions × hidden`.
    pub position: Vec<f32>,
    /// Row 0 of the token-type table, when the model has one.
    pub token_type_zero: Option<Vec<f32>>,
    pub positions: PositionIds,
    pub embedding_norm: NormWeights,
    pub layers: Vec<LayerWeights>,
}

/// One `BertLayer`-shaped layer (exact GELU in the feed-forward block).
pub struct LayerWeights {
    pub query: LinearWeights,
    pub key: LinearWeights,
    pub value: LinearWeights,
    pub attention_out: LinearWeights,
    pub attention_norm: NormWeights,
    pub intermediate: LinearWeights,
    pub output: LinearWeights,
    pub output_norm: NormWeights,
}

pub struct LinearWeights {
    /// `out × in`, PyTorch's layout.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub in_features: usize,
    pub out_features: usize,
}

pub struct NormWeights {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

fn flat(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

impl LinearWeights {
    pub(crate) fn of(linear: &Linear) -> candle_core::Result<Self> {
        let (out_features, in_features) = linear.weight().dims2()?;
        let bias = match linear.bias() {
            Some(b) => flat(b)?,
            None => vec![0.0; out_features],
        };
        Ok(Self {
            weight: flat(linear.weight())?,
            bias,
            in_features,
            out_features,
        })
    }
}

impl NormWeights {
    pub(crate) fn of(norm: &LayerNorm) -> candle_core::Result<Self> {
        let gamma = flat(norm.weight())?;
        let beta = match norm.bias() {
            Some(b) => flat(b)?,
            None => vec![0.0; gamma.len()],
        };
        Ok(Self {
            gamma,
            beta,
            eps: norm.eps() as f32,
        })
    }
}

pub(crate) fn embedding_table(embedding: &Embedding) -> candle_core::Result<Vec<f32>> {
    flat(embedding.embeddings())
}

/// A post-LN encoder ready to run on the fast path.
pub struct PackedEncoder {
    hidden: usize,
    heads: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    max_positions: usize,
    token_type_zero: Option<Vec<f32>>,
    positions: PositionIds,
    embedding_norm: NormWeights,
    layers: Vec<PackedLayer>,
    isa: Isa,
    workspace: Mutex<Workspace>,
}

/// The activations of one batch, kept between batches.
#[derive(Default)]
struct Workspace {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    inner: Vec<f32>,
    /// GEMM inputs rounded to f16 or bf16 (reduced precisions).
    half_input: Vec<u32>,
}

/// `buffer` as exactly `len` values: grown (the new part zeroed) or truncated, never cleared.
fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buffer.resize(len, 0.0);
    buffer
}

struct PackedLayer {
    /// Query, key and value as one product: `hidden → 3·hidden`.
    qkv: PackedLinear,
    attention_out: PackedLinear,
    attention_norm: NormWeights,
    intermediate: PackedLinear,
    output: PackedLinear,
    output_norm: NormWeights,
}

impl PackedEncoder {
    /// Packs the linear layers' weights in `format` (f32, or bf16/f16 for the reduced
    /// precisions: attention, softmax, LayerNorm and residuals stay f32 in every format).
    pub(crate) fn new(weights: PostLnWeights, format: WeightFormat) -> Self {
        let isa = Isa::detect();
        let pack = |l: &LinearWeights| {
            PackedLinear::new(
                &l.weight,
                Some(&l.bias),
                l.in_features,
                l.out_features,
                format,
                isa,
            )
        };
        let layers = weights
            .layers
            .into_iter()
            .map(|layer| {
                let qkv_weight = [
                    &layer.query.weight[..],
                    &layer.key.weight,
                    &layer.value.weight,
                ]
                .concat();
                let qkv_bias = [&layer.query.bias[..], &layer.key.bias, &layer.value.bias].concat();
                PackedLayer {
                    qkv: PackedLinear::new(
                        &qkv_weight,
                        Some(&qkv_bias),
                        weights.hidden,
                        3 * weights.hidden,
                        format,
                        isa,
                    ),
                    attention_out: pack(&layer.attention_out),
                    attention_norm: layer.attention_norm,
                    intermediate: pack(&layer.intermediate),
                    output: pack(&layer.output),
                    output_norm: layer.output_norm,
                }
            })
            .collect();
        Self {
            hidden: weights.hidden,
            heads: weights.heads,
            max_positions: weights.position.len() / weights.hidden,
            word: weights.word,
            position: weights.position,
            token_type_zero: weights.token_type_zero,
            positions: weights.positions,
            embedding_norm: weights.embedding_norm,
            layers,
            isa,
            workspace: Mutex::new(Workspace::default()),
        }
    }

    /// Runs `texts` (token ids, no padding) through the encoder and hands each text's last-layer
    /// hidden states (`len × hidden`, row-major) to `each` with the text's index, straight from the
    /// batch buffer.
    pub fn forward(
        &self,
        texts: &[&[u32]],
        mut each: impl FnMut(usize, &[f32]),
    ) -> candle_core::Result<()> {
        let last = self.layers.len();
        self.forward_layers(texts, |layer, index, rows| {
            if layer == last {
                each(index, rows);
            }
        })
    }

    /// As [`PackedEncoder::forward`], but hands out every text's hidden states after the
    /// embeddings (layer 0) and after each layer `k` as `each(k, text index, rows)`, all from
    /// one pass (bert_score's `all_layers=True`).
    pub fn forward_layers(
        &self,
        texts: &[&[u32]],
        mut each: impl FnMut(usize, usize, &[f32]),
    ) -> candle_core::Result<()> {
        let (spans, rows) = spans_of(texts);
        let h = self.hidden;
        // One batch at a time reuses the buffers (no allocation, no zeroing); a concurrent caller
        // gets its own.
        let mut shared = self.workspace.try_lock();
        let mut own = Workspace::default();
        let ws: &mut Workspace = match shared.as_deref_mut() {
            Ok(ws) => ws,
            Err(_) => &mut own,
        };
        let Workspace {
            hidden,
            qkv,
            context,
            attended,
            inner,
            half_input,
        } = ws;
        let hidden = sized(hidden, rows * h);
        let qkv = sized(qkv, rows * 3 * h);
        let context = sized(context, rows * h);
        let attended = sized(attended, rows * h);
        let inner = sized(inner, rows * self.intermediate_size());
        self.embed(texts, hidden)?;
        let mut hand_out = |layer: usize, hidden: &[f32]| {
            for (index, span) in spans.iter().enumerate() {
                each(
                    layer,
                    index,
                    &hidden[span.start * h..(span.start + span.len) * h],
                );
            }
        };
        hand_out(0, hidden);
        for (number, layer) in self.layers.iter().enumerate() {
            layer
                .qkv
                .forward_with_scratch(hidden, qkv, Epilogue::Bias, half_input);
            attention(qkv, h, self.heads, &spans, context, self.isa);
            layer.attention_out.forward_with_scratch(
                context,
                attended,
                Epilogue::BiasResidual(hidden),
                half_input,
            );
            normalize(attended, &layer.attention_norm, self.isa);
            layer.intermediate.forward_with_scratch(
                attended,
                inner,
                Epilogue::BiasGelu,
                half_input,
            );
            layer.output.forward_with_scratch(
                inner,
                hidden,
                Epilogue::BiasResidual(attended),
                half_input,
            );
            normalize(hidden, &layer.output_norm, self.isa);
            hand_out(number + 1, hidden);
        }
        Ok(())
    }

    fn intermediate_size(&self) -> usize {
        self.layers
            .first()
            .map_or(0, |layer| layer.intermediate.out_features())
    }

    /// Word + position (+ token type 0) embeddings, then LayerNorm, into `out` (every row written).
    fn embed(&self, texts: &[&[u32]], out: &mut [f32]) -> candle_core::Result<()> {
        let h = self.hidden;
        let vocab = self.word.len() / h;
        let mut row = 0;
        for text in texts {
            for (&id, position) in text.iter().zip(self.positions.of_text(text)) {
                let position = position as usize;
                if id as usize >= vocab || position >= self.max_positions {
                    return Err(candle_core::Error::Msg(format!(
                        "token id {id} or position {position} is outside the model's tables \
                         ({vocab} tokens, {} positions)",
                        self.max_positions
                    )));
                }
                let target = &mut out[row * h..(row + 1) * h];
                let word = &self.word[id as usize * h..(id as usize + 1) * h];
                let pos = &self.position[position * h..(position + 1) * h];
                for ((t, w), p) in target.iter_mut().zip(word).zip(pos) {
                    *t = w + p;
                }
                if let Some(token_type) = &self.token_type_zero {
                    for (t, tt) in target.iter_mut().zip(token_type) {
                        *t += tt;
                    }
                }
                row += 1;
            }
        }
        normalize(out, &self.embedding_norm, self.isa);
        Ok(())
    }
}

impl super::FastEncoder for PackedEncoder {
    fn hidden_size(&self) -> usize {
        self.hidden
    }

    fn forward(
        &self,
        texts: &[&[u32]],
        each: &mut dyn FnMut(usize, &[f32]),
    ) -> candle_core::Result<()> {
        PackedEncoder::forward(self, texts, each)
    }

    fn forward_layers(
        &self,
        texts: &[&[u32]],
        each: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> candle_core::Result<()> {
        PackedEncoder::forward_layers(self, texts, each)
    }
}

fn normalize(x: &mut [f32], norm: &NormWeights, isa: Isa) {
    layer_norm_rows(x, &norm.gamma, &norm.beta, norm.eps, isa);
}

/// The rows of `texts` packed one after another: each text's span, and the rows in all.
pub(crate) fn spans_of(texts: &[&[u32]]) -> (Vec<SequenceSpan>, usize) {
    let mut spans = Vec::with_capacity(texts.len());
    let mut rows = 0;
    for text in texts {
        spans.push(SequenceSpan {
            start: rows,
            len: text.len(),
        });
        rows += text.len();
    }
    (spans, rows)
}
