//! DistilBERT (transformers' `DistilBertModel`), truncated after `num_layers` layers.
//!
//! Embeddings are word + position (no token types), then LayerNorm; the layers live under
//! `transformer.layer.N` with their own weight names. LayerNorm eps is fixed at 1e-12 in
//! transformers' implementation, not read from the config.

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde_json::Value;

use super::bert::PositionIds;
use super::packed::{LayerWeights, LinearWeights, NormWeights, PostLnWeights, embedding_table};
use super::{
    Activation, Encoder, config_str_or, config_usize, dense, layer_norm, multi_head_attention,
    padding_bias,
};

const LAYER_NORM_EPS: f64 = 1e-12;

struct DistilLayer {
    q_lin: Linear,
    k_lin: Linear,
    v_lin: Linear,
    out_lin: Linear,
    sa_layer_norm: LayerNorm,
    lin1: Linear,
    activation: Activation,
    lin2: Linear,
    output_layer_norm: LayerNorm,
    num_heads: usize,
}

impl DistilLayer {
    fn load(vb: VarBuilder, config: &Value) -> candle_core::Result<Self> {
        let dim = config_usize(config, "dim")?;
        let hidden_dim = config_usize(config, "hidden_dim")?;
        let num_heads = config_usize(config, "n_heads")?;
        if dim % num_heads != 0 {
            return Err(candle_core::Error::Msg(format!(
                "dim {dim} is not a multiple of n_heads {num_heads}"
            )));
        }
        let attention = vb.pp("attention");
        Ok(Self {
            q_lin: candle_nn::linear(dim, dim, attention.pp("q_lin"))?,
            k_lin: candle_nn::linear(dim, dim, attention.pp("k_lin"))?,
            v_lin: candle_nn::linear(dim, dim, attention.pp("v_lin"))?,
            out_lin: candle_nn::linear(dim, dim, attention.pp("out_lin"))?,
            sa_layer_norm: layer_norm(dim, LAYER_NORM_EPS, vb.pp("sa_layer_norm"))?,
            lin1: candle_nn::linear(dim, hidden_dim, vb.pp("ffn").pp("lin1"))?,
            activation: Activation::from_name(config_str_or(config, "activation", "gelu"))?,
            lin2: candle_nn::linear(hidden_dim, dim, vb.pp("ffn").pp("lin2"))?,
            output_layer_norm: layer_norm(dim, LAYER_NORM_EPS, vb.pp("output_layer_norm"))?,
            num_heads,
        })
    }

    /// This layer for the fast path; `None` unless its activation is the exact GELU.
    fn post_ln_weights(&self) -> Option<candle_core::Result<LayerWeights>> {
        if self.activation != Activation::GeluErf {
            return None;
        }
        let weights = || -> candle_core::Result<LayerWeights> {
            Ok(LayerWeights {
                query: LinearWeights::of(&self.q_lin)?,
                key: LinearWeights::of(&self.k_lin)?,
                value: LinearWeights::of(&self.v_lin)?,
                attention_out: LinearWeights::of(&self.out_lin)?,
                attention_norm: NormWeights::of(&self.sa_layer_norm)?,
                intermediate: LinearWeights::of(&self.lin1)?,
                output: LinearWeights::of(&self.lin2)?,
                output_norm: NormWeights::of(&self.output_layer_norm)?,
            })
        };
        Some(weights())
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let context = multi_head_attention(
            &dense(&self.q_lin, xs)?,
            &dense(&self.k_lin, xs)?,
            &dense(&self.v_lin, xs)?,
            bias,
            self.num_heads,
        )?;
        let attended = self
            .sa_layer_norm
            .forward(&dense(&self.out_lin, &context)?.add(xs)?)?;
        let inner = self.activation.forward(&dense(&self.lin1, &attended)?)?;
        self.output_layer_norm
            .forward(&dense(&self.lin2, &inner)?.add(&attended)?)
    }
}

/// `DistilBertModel` truncated after `num_layers` layers.
pub struct DistilBertEncoder {
    word: Embedding,
    position: Embedding,
    norm: LayerNorm,
    layers: Vec<DistilLayer>,
    hidden_size: usize,
    dtype: DType,
}

impl DistilBertEncoder {
    pub fn load(vb: VarBuilder, config: &Value, num_layers: usize) -> candle_core::Result<Self> {
        let dim = config_usize(config, "dim")?;
        let embeddings = vb.pp("embeddings");
        Ok(Self {
            word: candle_nn::embedding(
                config_usize(config, "vocab_size")?,
                dim,
                embeddings.pp("word_embeddings"),
            )?,
            position: candle_nn::embedding(
                config_usize(config, "max_position_embeddings")?,
                dim,
                embeddings.pp("position_embeddings"),
            )?,
            norm: layer_norm(dim, LAYER_NORM_EPS, embeddings.pp("LayerNorm"))?,
            layers: (0..num_layers)
                .map(|i| DistilLayer::load(vb.pp("transformer").pp("layer").pp(i), config))
                .collect::<candle_core::Result<Vec<_>>>()?,
            hidden_size: dim,
            dtype: vb.dtype(),
        })
    }
}

impl Encoder for DistilBertEncoder {
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
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
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &bias)?;
        }
        hidden.to_dtype(DType::F32)
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn post_ln_weights(&self) -> Option<candle_core::Result<PostLnWeights>> {
        let layers = self
            .layers
            .iter()
            .map(DistilLayer::post_ln_weights)
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
