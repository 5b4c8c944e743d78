//! DistilBERT (transformers' `DistilBertModel`), truncated after `num_layers` layers.
//!
//! Embeddings are word + position (no token types), then LayerNorm; the layers live under
//! `transformer.layer.N` with their own weight names. LayerNorm eps is fixed at 1e-12 in
//! transformers' implementation, not read from the config.

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

use super::bert::{PositionIds, TransformerLayer};
use super::packed::{NormWeights, PostLnWeights, embedding_table};
use super::{Activation, Encoder, check_heads, layer_norm, padding_bias};

const LAYER_NORM_EPS: f64 = 1e-12;

/// The fields of transformers' `DistilBertConfig` the encoder reads.
#[derive(Debug, Clone, Deserialize)]
pub struct DistilBertConfig {
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub dim: usize,
    /// Transformer layers in the checkpoint.
    pub n_layers: usize,
    /// Attention heads per layer.
    pub n_heads: usize,
    /// Width of the feed-forward layer.
    pub hidden_dim: usize,
    /// Rows of the position-embedding table.
    pub max_position_embeddings: usize,
    /// The feed-forward activation.
    #[serde(default = "Activation::gelu")]
    pub(crate) activation: Activation,
}

impl DistilBertConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        check_heads("dim", self.dim, "n_heads", self.n_heads)
    }
}

/// DistilBERT's `TransformerBlock`, loaded into BERT's layer (same computation, other names).
fn load_layer(vb: VarBuilder, config: &DistilBertConfig) -> candle_core::Result<TransformerLayer> {
    let (dim, hidden_dim, num_heads) = (config.dim, config.hidden_dim, config.n_heads);
    let attention = vb.pp("attention");
    Ok(TransformerLayer {
        query: candle_nn::linear(dim, dim, attention.pp("q_lin"))?,
        key: candle_nn::linear(dim, dim, attention.pp("k_lin"))?,
        value: candle_nn::linear(dim, dim, attention.pp("v_lin"))?,
        attention_out: candle_nn::linear(dim, dim, attention.pp("out_lin"))?,
        attention_norm: layer_norm(dim, LAYER_NORM_EPS, vb.pp("sa_layer_norm"))?,
        intermediate: candle_nn::linear(dim, hidden_dim, vb.pp("ffn").pp("lin1"))?,
        activation: config.activation,
        output: candle_nn::linear(hidden_dim, dim, vb.pp("ffn").pp("lin2"))?,
        output_norm: layer_norm(dim, LAYER_NORM_EPS, vb.pp("output_layer_norm"))?,
        num_heads,
    })
}

/// `DistilBertModel` truncated after `num_layers` layers.
pub struct DistilBertEncoder {
    word: Embedding,
    position: Embedding,
    norm: LayerNorm,
    layers: Vec<TransformerLayer>,
    hidden_size: usize,
    dtype: DType,
}

impl DistilBertEncoder {
    /// Loads the embeddings and the first `num_layers` layers.
    pub fn load(
        vb: VarBuilder,
        config: &DistilBertConfig,
        num_layers: usize,
    ) -> candle_core::Result<Self> {
        let dim = config.dim;
        let embeddings = vb.pp("embeddings");
        Ok(Self {
            word: candle_nn::embedding(config.vocab_size, dim, embeddings.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                config.max_position_embeddings,
                dim,
                embeddings.pp("position_embeddings"),
            )?,
            norm: layer_norm(dim, LAYER_NORM_EPS, embeddings.pp("LayerNorm"))?,
            layers: (0..num_layers)
                .map(|i| load_layer(vb.pp("transformer").pp("layer").pp(i), config))
                .collect::<candle_core::Result<Vec<_>>>()?,
            hidden_size: dim,
            dtype: vb.dtype(),
        })
    }
}

impl DistilBertEncoder {
    /// The last layer's hidden states, or (`all_layers`) the embedding output and every layer's.
    fn run(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        all_layers: bool,
    ) -> candle_core::Result<Vec<Tensor>> {
        let (batch, seq) = input_ids.dims2()?;
        let position_ids = Tensor::arange(0u32, seq as u32, input_ids.device())?
            .unsqueeze(0)?
            .broadcast_as((batch, seq))?
            .contiguous()?;
        let embedded = self
            .word
            .forward(input_ids)?
            .add(&self.position.forward(&position_ids)?)?;
        let bias = padding_bias(attention_mask, self.dtype)?;
        let mut hidden = self.norm.forward(&embedded)?;
        let mut all = Vec::new();
        for layer in &self.layers {
            if all_layers {
                all.push(hidden.to_dtype(DType::F32)?);
            }
            hidden = layer.forward(&hidden, &bias)?;
        }
        all.push(hidden.to_dtype(DType::F32)?);
        Ok(all)
    }
}

impl Encoder for DistilBertEncoder {
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

    fn post_ln_weights(&self) -> Option<candle_core::Result<PostLnWeights>> {
        let layers = self
            .layers
            .iter()
            .map(TransformerLayer::post_ln_weights)
            .collect::<Option<candle_core::Result<Vec<_>>>>()?;
        let heads = self.layers.first().map_or(1, |layer| layer.num_heads);
        let weights = || -> candle_core::Result<PostLnWeights> {
            Ok(PostLnWeights {
                hidden: self.hidden_size,
                heads,
                word: embedding_table(&self.word)?,
                position: embedding_table(&self.position)?,
                token_type_zero: None,
                positions: PositionIds::Absolute,
                embedding_norm: NormWeights::of(&self.norm)?,
                layers: layers?,
            })
        };
        Some(weights())
    }
}
