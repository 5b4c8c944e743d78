//! Qwen3 used as an embedder (transformers' `Qwen3Model`), truncated after `num_layers` layers.
//!
//! bert_score loads a decoder with `AutoModel` and keeps `layers[:k]`; the model's final RMSNorm
//! still applies to layer k's output. A layer: `h = RMSNorm(x)`; q, k, v projections (grouped-query:
//! `num_key_value_heads` key/value heads), RMSNorm over each query and key head (`q_norm`,
//! `k_norm`), rotary embeddings (rotate-half, `rope_theta`, positions from 0 in each text), causal
//! attention, `x += o_proj(·)`; `h = RMSNorm(x)`, `x += down(silu(gate h) · up h)`.
//!
//! Its hidden states (bert_score's `all_layers=True`): the raw token embeddings, the outputs of
//! layers 1 .. k−1, and layer k's output after the final norm (equal to the truncated model's).
//!
//! bert_score right-pads the batch, so a real token never sees a pad through the causal mask and
//! every text's positions start at 0.

use bertscore_kernels::Rope;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm, VarBuilder};
use serde::Deserialize;

use super::packed_qwen3::{Qwen3LayerWeights, Qwen3Weights};
use super::{Activation, Encoder, FastEncoder, dense, padding_bias};

/// The fields of transformers' `Qwen3Config` the encoder reads; sizes required, the rest with
/// transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct Qwen3Config {
    /// Rows of the token-embedding table.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Width of the SwiGLU block.
    pub intermediate_size: usize,
    /// Decoder layers in the checkpoint.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); as many as query heads when absent.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Each head's width; `hidden_size / num_attention_heads` when absent.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Only `silu` (SwiGLU) is supported.
    #[serde(default = "defaults::hidden_act")]
    pub(crate) hidden_act: Activation,
    /// Positions the rotary embedding was trained for (texts are cut there).
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon (every norm of the model).
    #[serde(default = "defaults::rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// The rotary base θ.
    #[serde(default = "defaults::rope_theta")]
    pub rope_theta: f64,
    /// Only `null` (plain RoPE) is supported.
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    /// Biases on the q/k/v/o projections.
    #[serde(default)]
    pub attention_bias: bool,
    /// Sliding-window layers are not supported.
    #[serde(default)]
    pub use_sliding_window: bool,
    /// Per layer `full_attention` (or `sliding_attention`, not supported).
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
}

mod defaults {
    use super::Activation;

    pub fn hidden_act() -> Activation {
        Activation::Silu
    }
    pub fn max_position_embeddings() -> usize {
        32_768
    }
    pub fn rms_norm_eps() -> f64 {
        1e-6
    }
    pub fn rope_theta() -> f64 {
        10_000.0
    }
}

impl Qwen3Config {
    pub(crate) fn check(&self) -> Result<(), String> {
        let heads = self.num_attention_heads;
        let kv_heads = self.kv_heads();
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(format!(
                "num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
            ));
        }
        if self.head_dim.is_none() {
            super::check_heads(
                "hidden_size",
                self.hidden_size,
                "num_attention_heads",
                heads,
            )?;
        }
        let head_dim = self.head_dim();
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim {head_dim} must be even (rotary embeddings)"
            ));
        }
        if self.hidden_act != Activation::Silu {
            return Err(format!(
                "hidden_act {:?} is not supported (only \"silu\")",
                self.hidden_act
            ));
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err("rope_scaling is not supported (only null)".into());
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return Err(format!("rope_theta {} must be > 0", self.rope_theta));
        }
        let sliding = self
            .layer_types
            .iter()
            .flatten()
            .any(|t| t != "full_attention");
        if self.use_sliding_window || sliding {
            return Err("sliding-window layers are not supported (only full_attention)".into());
        }
        Ok(())
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Each head's width.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }
}

/// The rotary embedding of a config: one table per (θ, head width), shared by both paths.
fn rope(config: &Qwen3Config) -> Rope {
    Rope::new(config.rope_theta as f32, config.head_dim())
}

struct Qwen3Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Qwen3Layer {
    fn load(vb: VarBuilder, config: &Qwen3Config) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let d = config.head_dim();
        let (heads, kv_heads) = (config.num_attention_heads, config.kv_heads());
        let eps = config.rms_norm_eps;
        let attention = vb.pp("self_attn");
        let bias = config.attention_bias;
        let mlp = vb.pp("mlp");
        let inner = config.intermediate_size;
        Ok(Self {
            input_norm: candle_nn::rms_norm(hidden, eps, vb.pp("input_layernorm"))?,
            q: candle_nn::linear_b(hidden, heads * d, bias, attention.pp("q_proj"))?,
            k: candle_nn::linear_b(hidden, kv_heads * d, bias, attention.pp("k_proj"))?,
            v: candle_nn::linear_b(hidden, kv_heads * d, bias, attention.pp("v_proj"))?,
            o: candle_nn::linear_b(heads * d, hidden, bias, attention.pp("o_proj"))?,
            q_norm: candle_nn::rms_norm(d, eps, attention.pp("q_norm"))?,
            k_norm: candle_nn::rms_norm(d, eps, attention.pp("k_norm"))?,
            post_norm: candle_nn::rms_norm(hidden, eps, vb.pp("post_attention_layernorm"))?,
            gate: candle_nn::linear_no_bias(hidden, inner, mlp.pp("gate_proj"))?,
            up: candle_nn::linear_no_bias(hidden, inner, mlp.pp("up_proj"))?,
            down: candle_nn::linear_no_bias(inner, hidden, mlp.pp("down_proj"))?,
        })
    }

    /// `xs` is `(batch, seq, hidden)`; `bias` the additive mask, broadcastable to
    /// `(batch, heads, seq, seq)`; `cos`/`sin` `(seq, head_dim/2)` in the model's dtype.
    fn forward(
        &self,
        xs: &Tensor,
        bias: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        config: &Qwen3Config,
    ) -> candle_core::Result<Tensor> {
        let (batch, seq, _) = xs.dims3()?;
        let d = config.head_dim();
        let (heads, kv_heads) = (config.num_attention_heads, config.kv_heads());
        let h = self.input_norm.forward(xs)?;
        // (batch, seq, n·d) → (batch, n, seq, d), each head RMS-normalised (q and k) and rotated.
        let split = |t: Tensor, n: usize, norm: Option<&RmsNorm>| -> candle_core::Result<Tensor> {
            let t = t.reshape((batch, seq, n, d))?;
            let t = match norm {
                Some(norm) => norm.forward(&t)?,
                None => t,
            };
            let t = t.transpose(1, 2)?.contiguous()?;
            match norm {
                Some(_) => candle_nn::rotary_emb::rope(&t, cos, sin),
                None => Ok(t),
            }
        };
        let q = split(dense(&self.q, &h)?, heads, Some(&self.q_norm))?;
        let k = split(dense(&self.k, &h)?, kv_heads, Some(&self.k_norm))?;
        let v = split(dense(&self.v, &h)?, kv_heads, None)?;
        // Grouped-query attention: query head i uses key/value head i / (heads / kv_heads).
        let repeat = |t: Tensor| -> candle_core::Result<Tensor> {
            let group = heads / kv_heads;
            if group == 1 {
                return Ok(t);
            }
            t.unsqueeze(2)?
                .broadcast_as((batch, kv_heads, group, seq, d))?
                .reshape((batch, heads, seq, d))
        };
        let (k, v) = (repeat(k)?, repeat(v)?);
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, seq, heads * d))?;
        let xs = (dense(&self.o, &context)? + xs)?;
        let h = self.post_norm.forward(&xs)?;
        let inner = (dense(&self.gate, &h)?.silu()? * dense(&self.up, &h)?)?;
        dense(&self.down, &inner)? + xs
    }

    fn weights(&self) -> candle_core::Result<Qwen3LayerWeights> {
        let w = |l: &Linear| flat(l.weight());
        let b = |l: &Linear| l.bias().map(flat).transpose();
        Ok(Qwen3LayerWeights {
            input_norm: flat(self.input_norm.weight())?,
            q: w(&self.q)?,
            k: w(&self.k)?,
            v: w(&self.v)?,
            qkv_bias: match (b(&self.q)?, b(&self.k)?, b(&self.v)?) {
                (Some(q), Some(k), Some(v)) => Some([q, k, v].concat()),
                _ => None,
            },
            o: w(&self.o)?,
            o_bias: b(&self.o)?,
            q_norm: flat(self.q_norm.weight())?,
            k_norm: flat(self.k_norm.weight())?,
            post_norm: flat(self.post_norm.weight())?,
            gate: w(&self.gate)?,
            up: w(&self.up)?,
            down: w(&self.down)?,
        })
    }
}

fn flat(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// `Qwen3Model` truncated after `num_layers` layers, its final norm kept.
pub struct Qwen3Encoder {
    config: Qwen3Config,
    embed: Embedding,
    layers: Vec<Qwen3Layer>,
    norm: RmsNorm,
    rope: Rope,
    dtype: DType,
}

impl Qwen3Encoder {
    /// Loads the embeddings, the first `num_layers` layers and the final norm (`vb` at the
    /// `Qwen3Model`, i.e. past a causal-LM checkpoint's `model.` prefix).
    pub fn load(
        vb: VarBuilder,
        config: &Qwen3Config,
        num_layers: usize,
    ) -> candle_core::Result<Self> {
        let embed =
            candle_nn::embedding(config.vocab_size, config.hidden_size, vb.pp("embed_tokens"))?;
        let layers = (0..num_layers)
            .map(|i| Qwen3Layer::load(vb.pp("layers").pp(i), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let norm = candle_nn::rms_norm(config.hidden_size, config.rms_norm_eps, vb.pp("norm"))?;
        Ok(Self {
            config: config.clone(),
            embed,
            layers,
            norm,
            rope: rope(config),
            dtype: vb.dtype(),
        })
    }

    /// The causal mask plus the padding keys' mask, `(batch, 1, seq, seq)` once broadcast: 0 where
    /// query i may see key j (j ≤ i and j a token), the dtype's lowest value elsewhere.
    fn mask(&self, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        let (_, seq) = attention_mask.dims2()?;
        let padding = padding_bias(attention_mask, self.dtype)?;
        // Row i of the causal mask is a padding mask over the keys: 1 for j ≤ i.
        let visible: Vec<u32> = (0..seq)
            .flat_map(|i| (0..seq).map(move |j| u32::from(j <= i)))
            .collect();
        let visible = Tensor::from_vec(visible, (seq, seq), attention_mask.device())?;
        let causal = padding_bias(&visible, self.dtype)?.reshape((1, 1, seq, seq))?;
        causal.broadcast_add(&padding)
    }

    fn cos_sin(&self, seq: usize, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.config.head_dim() / 2;
        let (cos, sin) = self.rope.cos_sin(seq);
        let cos = Tensor::from_vec(cos, (seq, half), device)?.to_dtype(self.dtype)?;
        let sin = Tensor::from_vec(sin, (seq, half), device)?.to_dtype(self.dtype)?;
        Ok((cos, sin))
    }

    /// The hidden states handed out: after the embeddings and after each layer when `all`, else
    /// the last one only; the last always after the final norm.
    fn run(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        all: bool,
    ) -> candle_core::Result<Vec<Tensor>> {
        let (_, seq) = input_ids.dims2()?;
        let bias = self.mask(attention_mask)?;
        let (cos, sin) = self.cos_sin(seq, input_ids.device())?;
        let mut hidden = self.embed.forward(input_ids)?;
        let mut out = Vec::new();
        for layer in &self.layers {
            if all {
                out.push(hidden.to_dtype(DType::F32)?);
            }
            hidden = layer.forward(&hidden, &bias, &cos, &sin, &self.config)?;
        }
        out.push(self.norm.forward(&hidden)?.to_dtype(DType::F32)?);
        Ok(out)
    }
}

impl Encoder for Qwen3Encoder {
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        let mut out = self.run(input_ids, attention_mask, false)?;
        Ok(out.pop().expect("the last hidden state"))
    }

    fn forward_all_layers(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        self.run(input_ids, attention_mask, true)
    }

    fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    fn fast_encoder(
        &self,
        format: bertscore_kernels::WeightFormat,
    ) -> Option<candle_core::Result<Box<dyn FastEncoder>>> {
        let weights = || -> candle_core::Result<Qwen3Weights> {
            Ok(Qwen3Weights {
                hidden: self.config.hidden_size,
                heads: self.config.num_attention_heads,
                kv_heads: self.config.kv_heads(),
                head_dim: self.config.head_dim(),
                eps: self.config.rms_norm_eps as f32,
                rope_theta: self.config.rope_theta as f32,
                embed: flat(self.embed.embeddings())?,
                layers: self
                    .layers
                    .iter()
                    .map(Qwen3Layer::weights)
                    .collect::<candle_core::Result<_>>()?,
                norm: flat(self.norm.weight())?,
            })
        };
        Some(weights().map(|w| {
            Box::new(super::packed_qwen3::PackedQwen3::new(w, format)) as Box<dyn FastEncoder>
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::models::ModelConfig;

    const QWEN3: &str = r#"{"model_type": "qwen3", "vocab_size": 10, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 8, "rope_theta": 1000000.0}"#;

    fn parse(text: &str) -> crate::Result<ModelConfig> {
        ModelConfig::parse(text, Path::new("m/config.json"))
    }

    #[test]
    fn config_defaults_and_checks() {
        let ModelConfig::Qwen3(config) = parse(QWEN3).unwrap() else {
            panic!("not qwen3");
        };
        assert_eq!(config.kv_heads(), 2);
        assert_eq!(config.head_dim(), 8);
        assert_eq!(config.rms_norm_eps, 1e-6);
        assert_eq!(config.hidden_act, Activation::Silu);
        let error = |text: &str| parse(text).unwrap_err().to_string();
        let gqa = error(&QWEN3.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"));
        assert!(
            gqa.contains("not a multiple of num_key_value_heads 3"),
            "{gqa}"
        );
        let sliding = error(&QWEN3.replace(
            "\"head_dim\": 8",
            "\"head_dim\": 8, \"use_sliding_window\": true",
        ));
        assert!(
            sliding.contains("sliding-window layers are not supported"),
            "{sliding}"
        );
        let scaling = error(&QWEN3.replace(
            "\"head_dim\": 8",
            "\"head_dim\": 8, \"rope_scaling\": {\"type\": \"yarn\"}",
        ));
        assert!(
            scaling.contains("rope_scaling is not supported"),
            "{scaling}"
        );
        let act = error(&QWEN3.replace(
            "\"head_dim\": 8",
            "\"head_dim\": 8, \"hidden_act\": \"gelu\"",
        ));
        assert!(
            act.contains("only \\\"silu\\\"") || act.contains("only \"silu\""),
            "{act}"
        );
        let odd = error(&QWEN3.replace("\"head_dim\": 8", "\"head_dim\": 7"));
        assert!(odd.contains("head_dim 7 must be even"), "{odd}");
    }
}
