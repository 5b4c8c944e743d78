//! BERT (transformers' `BertModel`), truncated after `num_layers` layers.
//!
//! The embeddings and post-LayerNorm transformer layers defined here are shared with RoBERTa, which
//! differs only in how position ids are counted.

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::packed::{LayerWeights, LinearWeights, NormWeights, PostLnWeights, embedding_table};
use super::{
    Activation, Encoder, check_heads, dense, layer_norm, multi_head_attention, padding_bias,
};

/// The fields of transformers' `BertConfig` (and `RobertaConfig`, `XLMRobertaConfig`) the encoder
/// reads. The sizes are required; the rest take transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Transformer layers in the checkpoint.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Rows of the position-embedding table.
    pub max_position_embeddings: usize,
    /// The feed-forward activation.
    #[serde(default = "Activation::gelu")]
    pub(crate) hidden_act: Activation,
    /// Rows of the token-type table (only row 0 is used).
    #[serde(default = "defaults::type_vocab_size")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` is supported.
    #[serde(default = "defaults::position_embedding_type")]
    pub position_embedding_type: String,
    /// The padding token; RoBERTa counts positions from it (default 1 there).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

mod defaults {
    pub fn type_vocab_size() -> usize {
        2
    }
    pub fn layer_norm_eps() -> f64 {
        1e-12
    }
    pub fn position_embedding_type() -> String {
        "absolute".into()
    }
}

impl BertConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        check_heads(
            "hidden_size",
            self.hidden_size,
            "num_attention_heads",
            self.num_attention_heads,
        )?;
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        Ok(())
    }
}

/// How position ids are assigned to the tokens of a right-padded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionIds {
    /// BERT: `0, 1, 2, ...` for every sequence.
    Absolute,
    /// RoBERTa/XLM-R (`create_position_ids_from_input_ids`): tokens other than `padding_idx` count
    /// from `padding_idx + 1`; padding tokens get `padding_idx`.
    /// RoBERTa/XLM-R: counted from `padding_idx + 1`.
    AfterPadding {
        /// The padding token's id (`pad_token_id`, 1 for RoBERTa).
        padding_idx: u32,
    },
}

impl PositionIds {
    /// The position id of each token of one text (right padding included, if any).
    pub(crate) fn of_text(self, ids: &[u32]) -> impl Iterator<Item = u32> + '_ {
        let mut counted = 0u32;
        ids.iter().enumerate().map(move |(index, &id)| match self {
            PositionIds::Absolute => index as u32,
            PositionIds::AfterPadding { padding_idx } if id == padding_idx => padding_idx,
            PositionIds::AfterPadding { padding_idx } => {
                counted += 1;
                padding_idx + counted
            }
        })
    }
}

/// Word + position + token-type embeddings, then LayerNorm (dropout is off at inference).
pub(crate) struct Embeddings {
    word: Embedding,
    position: Embedding,
    /// Row 0 of the token-type table: bert_score never passes token_type_ids, so they are all zero.
    token_type_zero: Option<Tensor>,
    norm: LayerNorm,
    positions: PositionIds,
}

impl Embeddings {
    pub(crate) fn load(
        vb: VarBuilder,
        config: &BertConfig,
        positions: PositionIds,
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let word = candle_nn::embedding(config.vocab_size, hidden, vb.pp("word_embeddings"))?;
        let position = candle_nn::embedding(
            config.max_position_embeddings,
            hidden,
            vb.pp("position_embeddings"),
        )?;
        let token_type_zero = if vb.contains_tensor("token_type_embeddings.weight") {
            Some(
                vb.get(
                    (config.type_vocab_size, hidden),
                    "token_type_embeddings.weight",
                )?
                .get(0)?,
            )
        } else {
            None
        };
        let norm = layer_norm(hidden, config.layer_norm_eps, vb.pp("LayerNorm"))?;
        Ok(Self {
            word,
            position,
            token_type_zero,
            norm,
            positions,
        })
    }

    /// Fills the embedding part of the fast path's weights.
    fn post_ln_weights(
        &self,
        hidden: usize,
        heads: usize,
        layers: Vec<LayerWeights>,
    ) -> candle_core::Result<PostLnWeights> {
        Ok(PostLnWeights {
            hidden,
            heads,
            word: embedding_table(&self.word)?,
            position: embedding_table(&self.position)?,
            token_type_zero: match &self.token_type_zero {
                Some(t) => Some(t.to_dtype(DType::F32)?.to_vec1::<f32>()?),
                None => None,
            },
            positions: self.positions,
            embedding_norm: NormWeights::of(&self.norm)?,
            layers,
        })
    }

    pub(crate) fn forward(&self, input_ids: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let position_ids = match self.positions {
            PositionIds::Absolute => Tensor::arange(0u32, seq as u32, input_ids.device())?
                .unsqueeze(0)?
                .broadcast_as((batch, seq))?
                .contiguous()?,
            PositionIds::AfterPadding { .. } => {
                let rows = input_ids.to_vec2::<u32>()?;
                let ids: Vec<u32> = rows
                    .iter()
                    .flat_map(|row| self.positions.of_text(row))
                    .collect();
                Tensor::from_vec(ids, (batch, seq), input_ids.device())?
            }
        };
        let mut embeddings = self
            .word
            .forward(input_ids)?
            .add(&self.position.forward(&position_ids)?)?;
        if let Some(token_type) = &self.token_type_zero {
            embeddings = embeddings.broadcast_add(token_type)?;
        }
        self.norm.forward(&embeddings)
    }
}

/// One post-LayerNorm transformer layer (`BertLayer`): self-attention, then the feed-forward block,
/// each followed by residual + LayerNorm. DistilBERT's `TransformerBlock` is the same computation
/// under other weight names; `distilbert.rs` builds this struct from its checkpoint.
pub(crate) struct TransformerLayer {
    pub(crate) query: Linear,
    pub(crate) key: Linear,
    pub(crate) value: Linear,
    pub(crate) attention_out: Linear,
    pub(crate) attention_norm: LayerNorm,
    pub(crate) intermediate: Linear,
    pub(crate) activation: Activation,
    pub(crate) output: Linear,
    pub(crate) output_norm: LayerNorm,
    pub(crate) num_heads: usize,
}

impl TransformerLayer {
    pub(crate) fn load(vb: VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let intermediate = config.intermediate_size;
        let num_heads = config.num_attention_heads;
        let eps = config.layer_norm_eps;
        let attention = vb.pp("attention");
        let this = attention.pp("self");
        Ok(Self {
            query: candle_nn::linear(hidden, hidden, this.pp("query"))?,
            key: candle_nn::linear(hidden, hidden, this.pp("key"))?,
            value: candle_nn::linear(hidden, hidden, this.pp("value"))?,
            attention_out: candle_nn::linear(hidden, hidden, attention.pp("output").pp("dense"))?,
            attention_norm: layer_norm(hidden, eps, attention.pp("output").pp("LayerNorm"))?,
            intermediate: candle_nn::linear(
                hidden,
                intermediate,
                vb.pp("intermediate").pp("dense"),
            )?,
            activation: config.hidden_act,
            output: candle_nn::linear(intermediate, hidden, vb.pp("output").pp("dense"))?,
            output_norm: layer_norm(hidden, eps, vb.pp("output").pp("LayerNorm"))?,
            num_heads,
        })
    }

    /// This layer for the fast path; `None` unless its activation is the exact GELU.
    pub(crate) fn post_ln_weights(&self) -> Option<candle_core::Result<LayerWeights>> {
        if self.activation != Activation::GeluErf {
            return None;
        }
        let weights = || -> candle_core::Result<LayerWeights> {
            Ok(LayerWeights {
                query: LinearWeights::of(&self.query)?,
                key: LinearWeights::of(&self.key)?,
                value: LinearWeights::of(&self.value)?,
                attention_out: LinearWeights::of(&self.attention_out)?,
                attention_norm: NormWeights::of(&self.attention_norm)?,
                intermediate: LinearWeights::of(&self.intermediate)?,
                output: LinearWeights::of(&self.output)?,
                output_norm: NormWeights::of(&self.output_norm)?,
            })
        };
        Some(weights())
    }

    pub(crate) fn forward(&self, xs: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let context = multi_head_attention(
            &dense(&self.query, xs)?,
            &dense(&self.key, xs)?,
            &dense(&self.value, xs)?,
            bias,
            self.num_heads,
        )?;
        let attended = self
            .attention_norm
            .forward(&dense(&self.attention_out, &context)?.add(xs)?)?;
        let inner = self
            .activation
            .forward(&dense(&self.intermediate, &attended)?)?;
        self.output_norm
            .forward(&dense(&self.output, &inner)?.add(&attended)?)
    }
}

/// Embeddings followed by the first `num_layers` transformer layers.
pub(crate) struct LayerStack {
    embeddings: Embeddings,
    layers: Vec<TransformerLayer>,
    hidden_size: usize,
    dtype: DType,
}

impl LayerStack {
    pub(crate) fn load(
        vb: VarBuilder,
        config: &BertConfig,
        num_layers: usize,
        positions: PositionIds,
    ) -> candle_core::Result<Self> {
        let embeddings = Embeddings::load(vb.pp("embeddings"), config, positions)?;
        let layers = (0..num_layers)
            .map(|i| TransformerLayer::load(vb.pp("encoder").pp("layer").pp(i), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            embeddings,
            layers,
            hidden_size: config.hidden_size,
            dtype: vb.dtype(),
        })
    }

    pub(crate) fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let bias = padding_bias(attention_mask, self.dtype)?;
        let mut hidden = self.embeddings.forward(input_ids)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &bias)?;
        }
        hidden.to_dtype(DType::F32)
    }

    /// The embedding output and every layer's output, as [`Encoder::forward_all_layers`].
    pub(crate) fn forward_all_layers(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        let bias = padding_bias(attention_mask, self.dtype)?;
        let mut hidden = self.embeddings.forward(input_ids)?;
        let mut all = vec![hidden.to_dtype(DType::F32)?];
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &bias)?;
            all.push(hidden.to_dtype(DType::F32)?);
        }
        Ok(all)
    }

    pub(crate) fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    pub(crate) fn post_ln_weights(&self) -> Option<candle_core::Result<PostLnWeights>> {
        let layers = self
            .layers
            .iter()
            .map(TransformerLayer::post_ln_weights)
            .collect::<Option<candle_core::Result<Vec<_>>>>()?;
        let heads = self.layers.first().map_or(1, |layer| layer.num_heads);
        Some(layers.and_then(|layers| {
            self.embeddings
                .post_ln_weights(self.hidden_size, heads, layers)
        }))
    }
}

/// `BertModel` truncated after `num_layers` layers.
pub struct BertEncoder {
    stack: LayerStack,
}

impl BertEncoder {
    /// Loads the embeddings and the first `num_layers` layers.
    pub fn load(
        vb: VarBuilder,
        config: &BertConfig,
        num_layers: usize,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            stack: LayerStack::load(vb, config, num_layers, PositionIds::Absolute)?,
        })
    }
}

impl Encoder for BertEncoder {
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        self.stack.forward(input_ids, attention_mask)
    }

    fn forward_all_layers(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        self.stack.forward_all_layers(input_ids, attention_mask)
    }

    fn hidden_size(&self) -> usize {
        self.stack.hidden_size()
    }

    fn post_ln_weights(&self) -> Option<candle_core::Result<PostLnWeights>> {
        self.stack.post_ln_weights()
    }
}
