//! DeBERTa-v2 / DeBERTa-v3 (`model_type: "deberta-v2"`), reproducing transformers 4.46.3
//! `DebertaV2Model` truncated the way bert_score truncates it.
//!
//! bert_score replaces `model.encoder.layer` with its first `num_layers` modules and keeps every
//! other part of the encoder: the relative-position embeddings (and their LayerNorm), and the
//! convolution that follows layer 0 when `conv_kernel_size > 0`. With no layer left the encoder
//! returns its input, so `num_layers = 0` yields the embedding output.
//!
//! Parity with the reference is the point of this file, so it follows the reference's arithmetic
//! where the order of floating-point operations is visible: the key (not the query) is divided by
//! the attention scale before the content-to-content product, the two relative terms are each
//! divided by the scale and summed before being added to the content scores, masked scores are
//! filled with the dtype's minimum and the probabilities are zeroed where masked (`XSoftmax`), and
//! the log-bucket positions are computed in f32 as torch does.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Embedding, Linear, VarBuilder};
use serde::Deserialize;

use super::Encoder;

/// Key of the word embeddings; its presence tells where the model's weights start.
const WORD_EMBEDDINGS_KEY: &str = "embeddings.word_embeddings.weight";

/// `base_model_prefix` of transformers' DeBERTa-v2 classes: checkpoints saved from a task model
/// (`DebertaV2ForMaskedLM`, `...ForSequenceClassification`) nest the encoder under it.
const BASE_MODEL_PREFIX: &str = "deberta";

fn msg(text: String) -> candle_core::Error {
    candle_core::Error::Msg(text)
}

/// The fields of transformers' `DebertaV2Config` the encoder reads, with the same defaults: the
/// constructor's defaults for declared parameters, and the `getattr(config, name, default)`
/// fallbacks of modeling_deberta_v2.py for the attributes it reads without declaring.
#[derive(Debug, Clone, Deserialize)]
pub struct DebertaV2Config {
    #[serde(default = "defaults::vocab_size")]
    vocab_size: usize,
    #[serde(default = "defaults::hidden_size")]
    hidden_size: usize,
    #[serde(default = "defaults::num_hidden_layers")]
    num_hidden_layers: usize,
    #[serde(default = "defaults::num_attention_heads")]
    num_attention_heads: usize,
    #[serde(default = "defaults::intermediate_size")]
    intermediate_size: usize,
    #[serde(default = "defaults::hidden_act")]
    hidden_act: String,
    #[serde(default = "defaults::max_position_embeddings")]
    max_position_embeddings: usize,
    #[serde(default)]
    type_vocab_size: usize,
    #[serde(default = "defaults::layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    relative_attention: bool,
    #[serde(default = "defaults::minus_one")]
    max_relative_positions: i64,
    #[serde(default = "defaults::position_biased_input")]
    position_biased_input: bool,
    #[serde(default, deserialize_with = "deserialize_pos_att_type")]
    pos_att_type: Vec<String>,
    #[serde(default = "defaults::minus_one")]
    position_buckets: i64,
    #[serde(default)]
    share_att_key: bool,
    #[serde(default)]
    attention_head_size: Option<usize>,
    #[serde(default)]
    embedding_size: Option<usize>,
    #[serde(default = "defaults::norm_rel_ebd")]
    norm_rel_ebd: String,
    #[serde(default)]
    conv_kernel_size: usize,
    #[serde(default = "defaults::conv_groups")]
    conv_groups: usize,
    #[serde(default = "defaults::conv_act")]
    conv_act: String,
}

mod defaults {
    pub fn vocab_size() -> usize {
        128_100
    }
    pub fn hidden_size() -> usize {
        1536
    }
    pub fn num_hidden_layers() -> usize {
        24
    }
    pub fn num_attention_heads() -> usize {
        24
    }
    pub fn intermediate_size() -> usize {
        6144
    }
    pub fn hidden_act() -> String {
        "gelu".to_string()
    }
    pub fn max_position_embeddings() -> usize {
        512
    }
    pub fn layer_norm_eps() -> f64 {
        1e-7
    }
    pub fn minus_one() -> i64 {
        -1
    }
    pub fn position_biased_input() -> bool {
        true
    }
    pub fn norm_rel_ebd() -> String {
        "none".to_string()
    }
    pub fn conv_groups() -> usize {
        1
    }
    pub fn conv_act() -> String {
        "tanh".to_string()
    }
}

/// `pos_att_type` is a list in current configs and a `"p2c|c2p"` string in old ones (the config
/// class lower-cases and splits the string form); `null` means no relative terms.
fn deserialize_pos_att_type<'de, De>(deserializer: De) -> Result<Vec<String>, De::Error>
where
    De: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum PosAttType {
        Joined(String),
        List(Vec<String>),
    }
    Ok(match Option::<PosAttType>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(PosAttType::Joined(joined)) => joined
            .to_lowercase()
            .split('|')
            .map(|kind| kind.trim().to_string())
            .collect(),
        Some(PosAttType::List(kinds)) => kinds,
    })
}

impl DebertaV2Config {
    /// Transformer layers in the checkpoint.
    pub(crate) fn num_hidden_layers(&self) -> usize {
        self.num_hidden_layers
    }

    /// What the types cannot say: heads that divide the width, activations this encoder applies.
    pub(crate) fn check(&self) -> Result<(), String> {
        super::check_heads(
            "hidden_size",
            self.hidden_size,
            "num_attention_heads",
            self.num_attention_heads,
        )?;
        for (field, name) in [
            ("hidden_act", &self.hidden_act),
            ("conv_act", &self.conv_act),
        ] {
            Activation::parse(name, field).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn has_pos_att(&self, kind: &str) -> bool {
        self.pos_att_type.iter().any(|k| k == kind)
    }

    /// The attention scale is `sqrt(head_size * scale_factor)`, one factor per attention term
    /// (content, c2p, p2c). The reference counts the terms from `pos_att_type` even when
    /// `relative_attention` is off.
    fn scale_factor(&self) -> usize {
        1 + usize::from(self.has_pos_att("c2p")) + usize::from(self.has_pos_att("p2c"))
    }

    /// `max_relative_positions < 1` means "as many as absolute positions".
    fn max_relative_positions(&self) -> i64 {
        if self.max_relative_positions < 1 {
            self.max_position_embeddings as i64
        } else {
            self.max_relative_positions
        }
    }

    /// Half the number of relative-embedding rows each attention layer uses (`att_span`).
    fn attention_span(&self) -> usize {
        if self.position_buckets > 0 {
            self.position_buckets as usize
        } else {
            self.max_relative_positions() as usize
        }
    }

    fn normalizes_rel_embeddings(&self) -> bool {
        self.norm_rel_ebd
            .to_lowercase()
            .split('|')
            .any(|part| part.trim() == "layer_norm")
    }

    fn head_size(&self) -> usize {
        self.attention_head_size
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }
}

/// The activations of transformers' `ACT2FN` this encoder can apply; others are refused at load
/// time rather than approximated.
#[derive(Debug, Clone, Copy)]
enum Activation {
    /// `gelu`: exact erf form, as `torch.nn.functional.gelu` computes it by default.
    GeluErf,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    Relu,
    Tanh,
    Silu,
    Sigmoid,
}

impl Activation {
    fn parse(name: &str, field: &str) -> candle_core::Result<Self> {
        Ok(match name {
            "gelu" | "gelu_python" => Self::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "relu" => Self::Relu,
            "tanh" => Self::Tanh,
            "silu" | "swish" => Self::Silu,
            "sigmoid" => Self::Sigmoid,
            other => {
                return Err(msg(format!(
                    "{field} {other:?} is not supported \
                     (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, tanh, silu, sigmoid)"
                )));
            }
        })
    }

    fn apply(self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::GeluErf => xs.gelu_erf(),
            Self::GeluTanh => xs.gelu(),
            Self::Relu => xs.relu(),
            Self::Tanh => xs.tanh(),
            Self::Silu => xs.silu(),
            Self::Sigmoid => candle_nn::ops::sigmoid(xs),
        }
    }
}

/// LayerNorm with its moments taken in f64 and in two passes. candle's fused kernel computes the
/// variance as `E[x²] - E[x]²` in f32, which loses digits when a row's mean is large against its
/// spread; torch's moments are accurate, so accurate moments are what parity needs.
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn load(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let xs64 = xs.to_dtype(DType::F64)?;
        let mean = xs64.mean_keepdim(D::Minus1)?;
        let centered = xs64.broadcast_sub(&mean)?;
        let variance = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let normalized = centered.broadcast_div(&(variance + self.eps)?.sqrt()?)?;
        normalized
            .to_dtype(self.weight.dtype())?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// Word embeddings, optional absolute positions and token types, optional projection to the
/// hidden size, LayerNorm, then zeroed at padding (the reference multiplies by the mask here).
struct Embeddings {
    word: Embedding,
    /// Only when `position_biased_input`; DeBERTa-v2/v3 checkpoints use relative positions only.
    position: Option<Embedding>,
    max_positions: usize,
    /// Row 0 of the token-type table: bert_score passes no token types, so the reference adds
    /// the embedding of type 0 at every position.
    token_type_zero: Option<Tensor>,
    /// `embed_proj` (no bias) when `embedding_size != hidden_size`.
    projection: Option<Linear>,
    layer_norm: LayerNorm,
}

impl Embeddings {
    fn load(config: &DebertaV2Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let embedding_size = config.embedding_size.unwrap_or(config.hidden_size);
        let word =
            candle_nn::embedding(config.vocab_size, embedding_size, vb.pp("word_embeddings"))?;
        let position = if config.position_biased_input {
            Some(candle_nn::embedding(
                config.max_position_embeddings,
                embedding_size,
                vb.pp("position_embeddings"),
            )?)
        } else {
            None
        };
        let token_type_zero = if config.type_vocab_size > 0 {
            let table = vb.get(
                (config.type_vocab_size, embedding_size),
                "token_type_embeddings.weight",
            )?;
            Some(table.get(0)?)
        } else {
            None
        };
        let projection = if embedding_size != config.hidden_size {
            Some(candle_nn::linear_no_bias(
                embedding_size,
                config.hidden_size,
                vb.pp("embed_proj"),
            )?)
        } else {
            None
        };
        let layer_norm = LayerNorm::load(
            config.hidden_size,
            config.layer_norm_eps,
            vb.pp("LayerNorm"),
        )?;
        Ok(Self {
            word,
            position,
            max_positions: config.max_position_embeddings,
            token_type_zero,
            projection,
            layer_norm,
        })
    }

    /// `mask`: `(batch, seq)` in the model dtype.
    fn forward(&self, input_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let seq_len = input_ids.dim(1)?;
        let mut embeddings = self.word.forward(input_ids)?;
        if let Some(position) = &self.position {
            if seq_len > self.max_positions {
                return Err(msg(format!(
                    "deberta-v2: sequence of {seq_len} tokens exceeds max_position_embeddings {}",
                    self.max_positions
                )));
            }
            let ids = Tensor::arange(0u32, seq_len as u32, input_ids.device())?;
            embeddings = embeddings.broadcast_add(&position.forward(&ids)?)?;
        }
        if let Some(token_type) = &self.token_type_zero {
            embeddings = embeddings.broadcast_add(token_type)?;
        }
        if let Some(projection) = &self.projection {
            embeddings = projection.forward(&embeddings)?;
        }
        let embeddings = self.layer_norm.forward(&embeddings)?;
        embeddings.broadcast_mul(&mask.unsqueeze(2)?)
    }
}

/// Index tables that turn the `(.., seq, 2 * span)` products of a query or key with the relative
/// embeddings into `(.., seq, seq)` relative-attention terms. Built once per forward (they
/// depend only on the sequence length) and shared by every layer.
///
/// The reference gathers with an index expanded to `(batch * heads, seq, seq)`; flattening the
/// last two dimensions turns the same gather into one `index_select` with a `seq * seq` index.
struct RelativeIndex {
    seq_len: usize,
    /// Entry `i * seq + j` = `i * 2span + clamp(δ(i, j) + span)`: row `i` of c2p reads the
    /// embedding of the bucketed distance from query `i` to key `j`.
    c2p: Tensor,
    /// Entry `i * seq + j` = `i * 2span + clamp(-δ(i, j) + span)`; the gathered matrix is then
    /// transposed, as in the reference.
    p2c: Tensor,
}

impl RelativeIndex {
    fn new(
        seq_len: usize,
        bucket_size: i64,
        max_position: i64,
        span: usize,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let span_i = span as i64;
        let width = 2 * span;
        let clamp = |position: i64| position.clamp(0, 2 * span_i - 1) as u32;
        let mut c2p = Vec::with_capacity(seq_len * seq_len);
        let mut p2c = Vec::with_capacity(seq_len * seq_len);
        for i in 0..seq_len {
            let row = (i * width) as u32;
            for j in 0..seq_len {
                let delta = relative_position(i as i64 - j as i64, bucket_size, max_position);
                c2p.push(row + clamp(delta + span_i));
                p2c.push(row + clamp(span_i - delta));
            }
        }
        Ok(Self {
            seq_len,
            c2p: Tensor::from_vec(c2p, seq_len * seq_len, device)?,
            p2c: Tensor::from_vec(p2c, seq_len * seq_len, device)?,
        })
    }
}

/// `build_relative_position` for one query/key pair: the raw distance `query - key`, or its
/// log bucket when `bucket_size > 0` (`max_position` is always positive by then).
fn relative_position(distance: i64, bucket_size: i64, max_position: i64) -> i64 {
    if bucket_size > 0 && max_position > 0 {
        log_bucket_position(distance, bucket_size, max_position)
    } else {
        distance
    }
}

/// `make_log_bucket_position`: distances within `±bucket_size / 2` are kept, longer ones are
/// compressed logarithmically. The reference computes the logarithm in f32 (torch's default
/// dtype for the true division of integer tensors) and takes its ceiling, so the same f32
/// operations are used here to land in the same bucket.
fn log_bucket_position(distance: i64, bucket_size: i64, max_position: i64) -> i64 {
    let mid = bucket_size / 2;
    let magnitude = distance.abs();
    if magnitude <= mid {
        return distance;
    }
    let ratio = magnitude as f32 / mid as f32;
    // `torch.tensor((max_position - 1) / mid)`: a Python float division rounded to f32.
    let max_ratio = ((max_position - 1) as f64 / mid as f64) as f32;
    let log_position = (ratio.ln() / max_ratio.ln() * (mid - 1) as f32).ceil() + mid as f32;
    (log_position as i64) * distance.signum()
}

/// Projections of the relative embeddings for one layer, computed once at load time: they do not
/// depend on the input. Stored per head and transposed, `(heads, head_size, 2 * span)`.
struct RelativeProjections {
    /// `pos_key_layer` for content-to-position (c2p) scores.
    key: Option<Tensor>,
    /// `pos_query_layer` for position-to-content (p2c) scores.
    query: Option<Tensor>,
}

/// DeBERTa's disentangled self-attention: content-to-content scores plus, with relative
/// attention, content-to-position and position-to-content terms.
struct DisentangledSelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    num_heads: usize,
    head_size: usize,
    /// `sqrt(head_size * scale_factor)` in f32, as the reference computes it.
    scale: f32,
    relative: Option<RelativeProjections>,
}

impl DisentangledSelfAttention {
    fn load(
        config: &DebertaV2Config,
        rel_embeddings: Option<&Tensor>,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let num_heads = config.num_attention_heads;
        let head_size = config.head_size();
        let all_head_size = num_heads * head_size;
        let query = candle_nn::linear(config.hidden_size, all_head_size, vb.pp("query_proj"))?;
        let key = candle_nn::linear(config.hidden_size, all_head_size, vb.pp("key_proj"))?;
        let value = candle_nn::linear(config.hidden_size, all_head_size, vb.pp("value_proj"))?;

        let relative = match rel_embeddings {
            Some(rel_embeddings) => {
                let per_head = |projection: &Linear| -> candle_core::Result<Tensor> {
                    let rows = rel_embeddings.dim(0)?;
                    projection
                        .forward(&rel_embeddings.unsqueeze(0)?)?
                        .reshape((rows, num_heads, head_size))?
                        .permute((1, 2, 0))?
                        .contiguous()
                };
                let (c2p, p2c) = (config.has_pos_att("c2p"), config.has_pos_att("p2c"));
                let (key_proj, query_proj) = if config.share_att_key {
                    (None, None)
                } else {
                    let key_proj = if c2p {
                        Some(candle_nn::linear(
                            config.hidden_size,
                            all_head_size,
                            vb.pp("pos_key_proj"),
                        )?)
                    } else {
                        None
                    };
                    let query_proj = if p2c {
                        Some(candle_nn::linear(
                            config.hidden_size,
                            all_head_size,
                            vb.pp("pos_query_proj"),
                        )?)
                    } else {
                        None
                    };
                    (key_proj, query_proj)
                };
                let pos_key = if c2p {
                    Some(per_head(key_proj.as_ref().unwrap_or(&key))?)
                } else {
                    None
                };
                let pos_query = if p2c {
                    Some(per_head(query_proj.as_ref().unwrap_or(&query))?)
                } else {
                    None
                };
                Some(RelativeProjections {
                    key: pos_key,
                    query: pos_query,
                })
            }
            None => None,
        };

        Ok(Self {
            query,
            key,
            value,
            num_heads,
            head_size,
            scale: (head_size as f32 * config.scale_factor() as f32).sqrt(),
            relative,
        })
    }

    /// `(batch, seq, heads * head_size)` → `(batch, heads, seq, head_size)`.
    fn split_heads(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, seq_len, _) = xs.dims3()?;
        xs.reshape((batch, seq_len, self.num_heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `hidden`: `(batch, seq, hidden)`; `pair_mask`: `(batch, 1, seq, seq)` u32, 1 where both
    /// query and key are tokens.
    fn forward(
        &self,
        hidden: &Tensor,
        pair_mask: &Tensor,
        relative_index: Option<&RelativeIndex>,
    ) -> candle_core::Result<Tensor> {
        let (batch, seq_len, _) = hidden.dims3()?;
        let query = self.split_heads(&self.query.forward(hidden)?)?;
        let key = self.split_heads(&self.key.forward(hidden)?)?;
        let value = self.split_heads(&self.value.forward(hidden)?)?;
        let scale = Tensor::new(self.scale, hidden.device())?.to_dtype(hidden.dtype())?;

        let mut scores = query.matmul(&key.t()?.broadcast_div(&scale)?)?;
        if let (Some(projections), Some(index)) = (&self.relative, relative_index)
            && let Some(bias) = self.relative_bias(&query, &key, projections, index, &scale)?
        {
            scores = (scores + bias)?;
        }

        let probabilities = masked_softmax(&scores, pair_mask)?;
        probabilities.matmul(&value)?.transpose(1, 2)?.reshape((
            batch,
            seq_len,
            self.num_heads * self.head_size,
        ))
    }

    /// `disentangled_attention_bias`: `c2p / scale + p2c / scale`, `(batch, heads, seq, seq)`.
    fn relative_bias(
        &self,
        query: &Tensor,
        key: &Tensor,
        projections: &RelativeProjections,
        index: &RelativeIndex,
        scale: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (batch, heads, seq_len, _) = query.dims4()?;
        debug_assert_eq!(seq_len, index.seq_len);
        let gather = |content: &Tensor,
                      positions: &Tensor,
                      flat_index: &Tensor|
         -> candle_core::Result<Tensor> {
            let products = content.broadcast_matmul(positions)?;
            let width = products.dim(D::Minus1)?;
            products
                .reshape((batch, heads, seq_len * width))?
                .index_select(flat_index, 2)?
                .reshape((batch, heads, seq_len, seq_len))
        };
        let mut bias = None;
        if let Some(pos_key) = &projections.key {
            let c2p = gather(query, pos_key, &index.c2p)?;
            bias = Some(c2p.broadcast_div(scale)?);
        }
        if let Some(pos_query) = &projections.query {
            let p2c = gather(key, pos_query, &index.p2c)?.transpose(2, 3)?;
            let p2c = p2c.broadcast_div(scale)?;
            bias = Some(match bias {
                Some(c2p) => (c2p + p2c)?,
                None => p2c,
            });
        }
        Ok(bias)
    }
}

/// `XSoftmax`: masked scores become the dtype's minimum before the softmax, and the probabilities
/// are zeroed where masked afterwards, so a padding query attends to nothing at all.
fn masked_softmax(scores: &Tensor, pair_mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = pair_mask.broadcast_as(scores.shape())?;
    let lowest = Tensor::new(dtype_min(scores.dtype())?, scores.device())?
        .to_dtype(scores.dtype())?
        .broadcast_as(scores.shape())?;
    let filled = mask.where_cond(scores, &lowest)?;
    let probabilities = candle_nn::ops::softmax_last_dim(&filled)?;
    let zeros = Tensor::zeros((), scores.dtype(), scores.device())?.broadcast_as(scores.shape())?;
    mask.where_cond(&probabilities, &zeros)
}

/// `torch.finfo(dtype).min`, which must be finite in the target dtype.
fn dtype_min(dtype: DType) -> candle_core::Result<f64> {
    Ok(match dtype {
        DType::F32 => f32::MIN as f64,
        DType::F64 => f64::MIN,
        DType::F16 => -65504.0,
        DType::BF16 => -3.389_531_389_251_535_5e38,
        other => return Err(msg(format!("deberta-v2: unsupported dtype {other:?}"))),
    })
}

/// One transformer block: disentangled attention, then the feed-forward, each followed by a
/// residual LayerNorm (post-norm, as in BERT).
struct Layer {
    attention: DisentangledSelfAttention,
    attention_dense: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    activation: Activation,
    output_dense: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(
        config: &DebertaV2Config,
        rel_embeddings: Option<&Tensor>,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let all_head_size = config.num_attention_heads * config.head_size();
        let eps = config.layer_norm_eps;
        let attention_vb = vb.pp("attention");
        Ok(Self {
            attention: DisentangledSelfAttention::load(
                config,
                rel_embeddings,
                attention_vb.pp("self"),
            )?,
            attention_dense: candle_nn::linear(
                all_head_size,
                hidden,
                attention_vb.pp("output").pp("dense"),
            )?,
            attention_norm: LayerNorm::load(
                hidden,
                eps,
                attention_vb.pp("output").pp("LayerNorm"),
            )?,
            intermediate: candle_nn::linear(
                hidden,
                config.intermediate_size,
                vb.pp("intermediate").pp("dense"),
            )?,
            activation: Activation::parse(&config.hidden_act, "hidden_act")?,
            output_dense: candle_nn::linear(
                config.intermediate_size,
                hidden,
                vb.pp("output").pp("dense"),
            )?,
            output_norm: LayerNorm::load(hidden, eps, vb.pp("output").pp("LayerNorm"))?,
        })
    }

    fn forward(
        &self,
        hidden: &Tensor,
        pair_mask: &Tensor,
        relative_index: Option<&RelativeIndex>,
    ) -> candle_core::Result<Tensor> {
        let context = self.attention.forward(hidden, pair_mask, relative_index)?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_dense.forward(&context)? + hidden)?)?;
        let intermediate = self
            .activation
            .apply(&self.intermediate.forward(&attended)?)?;
        self.output_norm
            .forward(&(self.output_dense.forward(&intermediate)? + &attended)?)
    }
}

/// `ConvLayer`: after layer 0, a 1-D convolution over the *embedding output* is added to the
/// layer's output (DeBERTa-v2 xlarge/xxlarge use it; v3 does not).
struct ConvLayer {
    conv: Conv1d,
    activation: Activation,
    norm: LayerNorm,
}

impl ConvLayer {
    fn load(config: &DebertaV2Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let kernel = config.conv_kernel_size;
        if kernel.is_multiple_of(2) {
            // With padding (k - 1) / 2 an even kernel shortens the sequence by one; the reference
            // then fails too, so refuse such a config up front.
            return Err(msg(format!(
                "deberta-v2 config: conv_kernel_size {kernel} must be odd"
            )));
        }
        let groups = config.conv_groups.max(1);
        let conv_config = Conv1dConfig {
            padding: (kernel - 1) / 2,
            stride: 1,
            dilation: 1,
            groups,
            cudnn_fwd_algo: None,
        };
        Ok(Self {
            conv: candle_nn::conv1d(
                config.hidden_size,
                config.hidden_size,
                kernel,
                conv_config,
                vb.pp("conv"),
            )?,
            activation: Activation::parse(&config.conv_act, "conv_act")?,
            norm: LayerNorm::load(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
        })
    }

    /// `embeddings`: the encoder's input; `residual`: layer 0's output; `mask`: `(batch, seq)`
    /// in the model dtype. Padding positions are zeroed before the activation and at the end.
    fn forward(
        &self,
        embeddings: &Tensor,
        residual: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let keep = mask.unsqueeze(2)?;
        let convolved = self
            .conv
            .forward(&embeddings.transpose(1, 2)?.contiguous()?)?
            .transpose(1, 2)?;
        let convolved = self.activation.apply(&convolved.broadcast_mul(&keep)?)?;
        self.norm
            .forward(&(residual + convolved)?)?
            .broadcast_mul(&keep)
    }
}

/// Relative-position state shared by every layer of the encoder.
struct RelativeAttention {
    bucket_size: i64,
    max_position: i64,
    span: usize,
}

/// `DebertaV2Model` with only its first `num_layers` encoder layers; see the module docs.
pub struct DebertaV2Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    /// Present when the config has `relative_attention` and at least one layer is kept.
    relative: Option<RelativeAttention>,
    conv: Option<ConvLayer>,
    hidden_size: usize,
}

impl DebertaV2Encoder {
    /// Loads the embeddings, the first `num_layers` layers and the encoder parts they use.
    ///
    /// `vb` points at the model root; weights saved by a task model under `deberta.` are found
    /// too. `config` is the model's config.json, read and checked by
    /// [`ModelConfig`](super::ModelConfig).
    pub fn load(
        vb: VarBuilder,
        config: &DebertaV2Config,
        num_layers: usize,
    ) -> candle_core::Result<Self> {
        if num_layers > config.num_hidden_layers {
            return Err(msg(format!(
                "deberta-v2: num_layers {num_layers} is out of range: the model has {} layers",
                config.num_hidden_layers
            )));
        }

        let vb = if vb.contains_tensor(WORD_EMBEDDINGS_KEY) {
            vb
        } else {
            let nested = vb.pp(BASE_MODEL_PREFIX);
            if !nested.contains_tensor(WORD_EMBEDDINGS_KEY) {
                return Err(msg(format!(
                    "deberta-v2: the weights contain neither {WORD_EMBEDDINGS_KEY} nor \
                     {BASE_MODEL_PREFIX}.{WORD_EMBEDDINGS_KEY}"
                )));
            }
            nested
        };

        let embeddings = Embeddings::load(config, vb.pp("embeddings"))?;
        let encoder_vb = vb.pp("encoder");

        // Relative embeddings and the convolution only act inside the layers, so with no layer
        // kept they are not loaded.
        let (relative, rel_embeddings) = if config.relative_attention && num_layers > 0 {
            let rows = 2 * config.attention_span();
            let table = encoder_vb.get((rows, config.hidden_size), "rel_embeddings.weight")?;
            let table = if config.normalizes_rel_embeddings() {
                LayerNorm::load(
                    config.hidden_size,
                    config.layer_norm_eps,
                    encoder_vb.pp("LayerNorm"),
                )?
                .forward(&table)?
            } else {
                table
            };
            let relative = RelativeAttention {
                bucket_size: config.position_buckets,
                max_position: config.max_relative_positions(),
                span: config.attention_span(),
            };
            (Some(relative), Some(table))
        } else {
            (None, None)
        };

        let layers = (0..num_layers)
            .map(|index| {
                Layer::load(
                    config,
                    rel_embeddings.as_ref(),
                    encoder_vb.pp("layer").pp(index),
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;

        let conv = if config.conv_kernel_size > 0 && num_layers > 0 {
            Some(ConvLayer::load(config, encoder_vb.pp("conv"))?)
        } else {
            None
        };

        Ok(Self {
            embeddings,
            layers,
            relative,
            conv,
            hidden_size: config.hidden_size,
        })
    }
}

impl DebertaV2Encoder {
    /// The last layer's hidden states, or (`all_layers`) the embedding output and every layer's.
    fn run(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        all_layers: bool,
    ) -> candle_core::Result<Vec<Tensor>> {
        let (batch, seq_len) = input_ids.dims2()?;
        if attention_mask.dims() != [batch, seq_len] {
            return Err(msg(format!(
                "deberta-v2: attention mask shape {:?} differs from input ids shape {:?}",
                attention_mask.dims(),
                input_ids.dims()
            )));
        }
        let device = input_ids.device();
        let dtype = self.embeddings.layer_norm.weight.dtype();
        let mask = attention_mask.to_dtype(dtype)?;

        let embedded = self.embeddings.forward(input_ids, &mask)?;
        if self.layers.is_empty() {
            return Ok(vec![embedded.to_dtype(DType::F32)?]);
        }
        let mut all = Vec::new();
        if all_layers {
            all.push(embedded.to_dtype(DType::F32)?);
        }

        // `get_attention_mask`: query i may attend to key j iff both are tokens.
        let token = attention_mask.to_dtype(DType::U32)?;
        let pair_mask = token
            .unsqueeze(1)?
            .unsqueeze(2)?
            .broadcast_mul(&token.unsqueeze(1)?.unsqueeze(3)?)?;
        let relative_index = match &self.relative {
            Some(relative) => Some(RelativeIndex::new(
                seq_len,
                relative.bucket_size,
                relative.max_position,
                relative.span,
                device,
            )?),
            None => None,
        };

        let mut hidden = embedded.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            hidden = layer.forward(&hidden, &pair_mask, relative_index.as_ref())?;
            if index == 0
                && let Some(conv) = &self.conv
            {
                hidden = conv.forward(&embedded, &hidden, &mask)?;
            }
            if all_layers && index + 1 < self.layers.len() {
                all.push(hidden.to_dtype(DType::F32)?);
            }
        }
        all.push(hidden.to_dtype(DType::F32)?);
        Ok(all)
    }
}

impl Encoder for DebertaV2Encoder {
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        let mut last = self.run(input_ids, attention_mask, false)?;
        Ok(last.pop().expect("the last layer"))
    }

    fn forward_all_layers(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        self.run(input_ids, attention_mask, true)
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
}
