//! ModernBERT (transformers' `ModernBertModel`), truncated after `num_layers` layers.
//!
//! `x = LayerNorm(tok_embeddings[ids])` (no position embeddings). Layer `l`: `h = x` at `l = 0`
//! (no attention norm there), else `LayerNorm(x)`; `[q | k | v] = Wqkv h`; rotary embeddings
//! (rotate-half, positions from 0 in each text) with `global_rope_theta` on global layers and
//! `local_rope_theta` on local ones; layer `l` is global when `l % global_attn_every_n_layers == 0`
//! and attends to every key, a local one to keys `j` with `|i - j| <= local_attention / 2`;
//! `x += Wo(attention)`; `[a | g] = Wi LayerNorm(x)`; `x += Wo_mlp(act(a) · g)` (GeGLU). The
//! output is `final_norm(x)`.
//!
//! bert_score keeps `layers[:k]` and the forward still applies `final_norm` to layer k's output.
//! Its hidden states (`all_layers=True`) are NOT the truncated outputs: the embedding norm's output,
//! each layer's output, and the last layer's output BEFORE `final_norm`.

use bertscore_kernels::Rope;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::packed::{LinearWeights, NormWeights, embedding_table};
use super::packed_modernbert::{ModernBertLayerWeights, ModernBertWeights, PackedModernBert};
use super::{
    Activation, Encoder, FastEncoder, check_heads, dense, multi_head_attention, padding_bias,
};

/// transformers' default `max_position_embeddings`, ModernBERT's context.
pub(crate) const DEFAULT_CONTEXT: usize = 8_192;

/// The fields of transformers' `ModernBertConfig` the encoder reads, with transformers' defaults
/// (those of ModernBERT-base).
#[derive(Debug, Clone, Deserialize)]
pub struct ModernBertConfig {
    /// Rows of the token-embedding table.
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    /// Width of the hidden states.
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: usize,
    /// Width of each half of the GeGLU block (`Wi` produces twice this).
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: usize,
    /// Layers in the checkpoint.
    #[serde(default = "defaults::num_hidden_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "defaults::num_attention_heads")]
    pub num_attention_heads: usize,
    /// The activation of the gated half (`hidden_activation`).
    #[serde(default = "Activation::gelu")]
    pub(crate) hidden_activation: Activation,
    /// The model's context: texts up to this many tokens are scored whole.
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// LayerNorm epsilon (every norm of the model).
    #[serde(default = "defaults::norm_eps")]
    pub norm_eps: f64,
    /// Biases on the norms.
    #[serde(default)]
    pub norm_bias: bool,
    /// Biases on `Wqkv` and `Wo`.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on `Wi` and the MLP's `Wo`.
    #[serde(default)]
    pub mlp_bias: bool,
    /// The rotary base θ of global layers.
    #[serde(default = "defaults::global_rope_theta")]
    pub global_rope_theta: f64,
    /// The rotary base θ of local layers (`null`: the global one).
    #[serde(default = "defaults::local_rope_theta")]
    pub local_rope_theta: Option<f64>,
    /// Every n-th layer (from layer 0) is global.
    #[serde(default = "defaults::global_attn_every_n_layers")]
    pub global_attn_every_n_layers: usize,
    /// A local layer's window: keys within `local_attention / 2` positions of the query.
    #[serde(default = "defaults::local_attention")]
    pub local_attention: usize,
}

mod defaults {
    pub fn vocab_size() -> usize {
        50_368
    }
    pub fn hidden_size() -> usize {
        768
    }
    pub fn intermediate_size() -> usize {
        1_152
    }
    pub fn num_hidden_layers() -> usize {
        22
    }
    pub fn num_attention_heads() -> usize {
        12
    }
    pub fn max_position_embeddings() -> usize {
        super::DEFAULT_CONTEXT
    }
    pub fn norm_eps() -> f64 {
        1e-5
    }
    pub fn global_rope_theta() -> f64 {
        160_000.0
    }
    pub fn local_rope_theta() -> Option<f64> {
        Some(10_000.0)
    }
    pub fn global_attn_every_n_layers() -> usize {
        3
    }
    pub fn local_attention() -> usize {
        128
    }
}

impl ModernBertConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        check_heads(
            "hidden_size",
            self.hidden_size,
            "num_attention_heads",
            self.num_attention_heads,
        )?;
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "head width {} must be even (rotary embeddings)",
                self.head_dim()
            ));
        }
        if self.global_attn_every_n_layers == 0 {
            return Err("global_attn_every_n_layers must be >= 1".into());
        }
        for (name, theta) in [
            ("global_rope_theta", Some(self.global_rope_theta)),
            ("local_rope_theta", self.local_rope_theta),
        ] {
            if let Some(theta) = theta
                && !(theta > 0.0 && theta.is_finite())
            {
                return Err(format!("{name} {theta} must be > 0"));
            }
        }
        if self.hidden_activation == Activation::Relu {
            return Err(
                "hidden_activation \"relu\" is not supported (gelu, gelu_pytorch_tanh, silu)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Each head's width.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Layer `layer` (0-based) attends to every key.
    pub fn is_global(&self, layer: usize) -> bool {
        layer.is_multiple_of(self.global_attn_every_n_layers)
    }

    /// A local layer's keys: within this many positions of the query.
    pub fn half_window(&self) -> usize {
        self.local_attention / 2
    }

    /// The rotary embeddings of global and local layers.
    fn ropes(&self) -> (Rope, Rope) {
        let global = self.global_rope_theta as f32;
        let local = self.local_rope_theta.map_or(global, |t| t as f32);
        (
            Rope::new(global, self.head_dim()),
            Rope::new(local, self.head_dim()),
        )
    }
}

/// A LayerNorm with or without its bias (`norm_bias`).
fn norm(size: usize, config: &ModernBertConfig, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    if config.norm_bias {
        candle_nn::layer_norm(size, config.norm_eps, vb)
    } else {
        candle_nn::layer_norm_no_bias(size, config.norm_eps, vb)
    }
}

struct ModernBertLayer {
    /// `None` in layer 0 (transformers' `nn.Identity`).
    attn_norm: Option<LayerNorm>,
    wqkv: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    /// `hidden → 2·intermediate`: `[a | g]`.
    wi: Linear,
    mlp_wo: Linear,
    global: bool,
}

impl ModernBertLayer {
    fn load(vb: VarBuilder, config: &ModernBertConfig, index: usize) -> candle_core::Result<Self> {
        let (h, inner) = (config.hidden_size, config.intermediate_size);
        let attn = vb.pp("attn");
        let mlp = vb.pp("mlp");
        Ok(Self {
            attn_norm: if index == 0 {
                None
            } else {
                Some(norm(h, config, vb.pp("attn_norm"))?)
            },
            wqkv: candle_nn::linear_b(h, 3 * h, config.attention_bias, attn.pp("Wqkv"))?,
            wo: candle_nn::linear_b(h, h, config.attention_bias, attn.pp("Wo"))?,
            mlp_norm: norm(h, config, vb.pp("mlp_norm"))?,
            wi: candle_nn::linear_b(h, 2 * inner, config.mlp_bias, mlp.pp("Wi"))?,
            mlp_wo: candle_nn::linear_b(inner, h, config.mlp_bias, mlp.pp("Wo"))?,
            global: config.is_global(index),
        })
    }

    /// `xs` is `(batch, seq, hidden)`; `bias` the additive mask of this layer's kind;
    /// `cos`/`sin` `(seq, head_dim/2)` of this layer's θ, in the model's dtype.
    fn forward(
        &self,
        xs: &Tensor,
        bias: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        config: &ModernBertConfig,
    ) -> candle_core::Result<Tensor> {
        let (batch, seq, hidden) = xs.dims3()?;
        let heads = config.num_attention_heads;
        let h = match &self.attn_norm {
            Some(norm) => norm.forward(xs)?,
            None => xs.clone(),
        };
        let qkv = dense(&self.wqkv, &h)?.reshape((batch, seq, 3, heads, config.head_dim()))?;
        // (batch, seq, heads, d), rotated, back to (batch, seq, hidden).
        let rotated = |part: usize| -> candle_core::Result<Tensor> {
            let t = qkv.narrow(2, part, 1)?.squeeze(2)?.contiguous()?;
            candle_nn::rotary_emb::rope_thd(&t, cos, sin)?.reshape((batch, seq, hidden))
        };
        let v = qkv.narrow(2, 2, 1)?.reshape((batch, seq, hidden))?;
        let context = multi_head_attention(&rotated(0)?, &rotated(1)?, &v, bias, heads)?;
        let xs = (dense(&self.wo, &context)? + xs)?;
        let gate_in = dense(&self.wi, &self.mlp_norm.forward(&xs)?)?;
        let inner = config.intermediate_size;
        let a = gate_in.narrow(2, 0, inner)?;
        let g = gate_in.narrow(2, inner, inner)?;
        let gated = (config.hidden_activation.forward(&a)? * g)?;
        dense(&self.mlp_wo, &gated)? + xs
    }

    fn weights(&self) -> candle_core::Result<ModernBertLayerWeights> {
        Ok(ModernBertLayerWeights {
            attn_norm: self.attn_norm.as_ref().map(NormWeights::of).transpose()?,
            wqkv: LinearWeights::of(&self.wqkv)?,
            wo: LinearWeights::of(&self.wo)?,
            mlp_norm: NormWeights::of(&self.mlp_norm)?,
            wi: LinearWeights::of(&self.wi)?,
            mlp_wo: LinearWeights::of(&self.mlp_wo)?,
            global: self.global,
        })
    }
}

/// `ModernBertModel` truncated after `num_layers` layers, its final norm kept.
pub struct ModernBertEncoder {
    config: ModernBertConfig,
    embed: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<ModernBertLayer>,
    final_norm: LayerNorm,
    global_rope: Rope,
    local_rope: Rope,
    dtype: DType,
}

impl ModernBertEncoder {
    /// Loads the embeddings, the first `num_layers` layers and the final norm (`vb` at the
    /// `ModernBertModel`, i.e. past a masked-LM checkpoint's `model.` prefix).
    pub fn load(
        vb: VarBuilder,
        config: &ModernBertConfig,
        num_layers: usize,
    ) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let embed = candle_nn::embedding(config.vocab_size, h, embeddings.pp("tok_embeddings"))?;
        let embed_norm = norm(h, config, embeddings.pp("norm"))?;
        let layers = (0..num_layers)
            .map(|i| ModernBertLayer::load(vb.pp("layers").pp(i), config, i))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let final_norm = norm(h, config, vb.pp("final_norm"))?;
        let (global_rope, local_rope) = config.ropes();
        Ok(Self {
            config: config.clone(),
            embed,
            embed_norm,
            layers,
            final_norm,
            global_rope,
            local_rope,
            dtype: vb.dtype(),
        })
    }

    fn cos_sin(
        &self,
        rope: &Rope,
        seq: usize,
        device: &Device,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.config.head_dim() / 2;
        let (cos, sin) = rope.cos_sin(seq);
        let cos = Tensor::from_vec(cos, (seq, half), device)?.to_dtype(self.dtype)?;
        let sin = Tensor::from_vec(sin, (seq, half), device)?.to_dtype(self.dtype)?;
        Ok((cos, sin))
    }

    /// The padding mask `(batch, 1, 1, seq)` of global layers and, when a layer is local, the
    /// padding mask plus the window's `(batch, 1, seq, seq)`.
    fn masks(&self, attention_mask: &Tensor) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let (_, seq) = attention_mask.dims2()?;
        let padding = padding_bias(attention_mask, self.dtype)?;
        if self.layers.iter().all(|layer| layer.global) {
            return Ok((padding, None));
        }
        let w = self.config.half_window();
        let visible: Vec<u32> = (0..seq)
            .flat_map(|i| (0..seq).map(move |j| u32::from(i.abs_diff(j) <= w)))
            .collect();
        let visible = Tensor::from_vec(visible, (seq, seq), attention_mask.device())?;
        let window = padding_bias(&visible, self.dtype)?.reshape((1, 1, seq, seq))?;
        let local = window.broadcast_add(&padding)?;
        Ok((padding, Some(local)))
    }

    /// The hidden states handed out: with `all`, the embedding output and each layer's output
    /// (the last before the final norm, as transformers' `hidden_states`); else the last layer's
    /// output after the final norm.
    fn run(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        all: bool,
    ) -> candle_core::Result<Vec<Tensor>> {
        let (_, seq) = input_ids.dims2()?;
        let device = input_ids.device();
        let (global_mask, local_mask) = self.masks(attention_mask)?;
        let global = self.cos_sin(&self.global_rope, seq, device)?;
        let local = self.cos_sin(&self.local_rope, seq, device)?;
        let mut hidden = self.embed_norm.forward(&self.embed.forward(input_ids)?)?;
        let mut out = Vec::new();
        if all {
            out.push(hidden.to_dtype(DType::F32)?);
        }
        for layer in &self.layers {
            let ((cos, sin), mask) = if layer.global {
                (&global, &global_mask)
            } else {
                (&local, local_mask.as_ref().expect("a local layer's mask"))
            };
            hidden = layer.forward(&hidden, mask, cos, sin, &self.config)?;
            if all {
                out.push(hidden.to_dtype(DType::F32)?);
            }
        }
        if !all {
            out.push(self.final_norm.forward(&hidden)?.to_dtype(DType::F32)?);
        }
        Ok(out)
    }
}

impl Encoder for ModernBertEncoder {
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
        let weights = || -> candle_core::Result<ModernBertWeights> {
            Ok(ModernBertWeights {
                hidden: self.config.hidden_size,
                heads: self.config.num_attention_heads,
                half_window: self.config.half_window(),
                activation: self.config.hidden_activation,
                global_rope_theta: self.global_rope.theta(),
                local_rope_theta: self.local_rope.theta(),
                embed: embedding_table(&self.embed)?,
                embed_norm: NormWeights::of(&self.embed_norm)?,
                layers: self
                    .layers
                    .iter()
                    .map(ModernBertLayer::weights)
                    .collect::<candle_core::Result<_>>()?,
                final_norm: NormWeights::of(&self.final_norm)?,
            })
        };
        Some(weights().map(|w| Box::new(PackedModernBert::new(w, format)) as Box<dyn FastEncoder>))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::models::{Architecture, ModelConfig};

    const MODERNBERT: &str = r#"{"model_type": "modernbert", "vocab_size": 10, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
        "local_attention": 16}"#;

    fn parse(text: &str) -> crate::Result<ModelConfig> {
        ModelConfig::parse(text, Path::new("m/config.json"))
    }

    #[test]
    fn config_defaults_layers_and_checks() {
        let config = parse(MODERNBERT).unwrap();
        assert_eq!(config.architecture(), Architecture::ModernBert);
        assert_eq!(config.num_hidden_layers(), 4);
        let ModelConfig::ModernBert(config) = config else {
            panic!("not modernbert");
        };
        assert_eq!(config.norm_eps, 1e-5);
        assert_eq!(config.max_position_embeddings, 8192);
        assert_eq!(config.global_rope_theta, 160_000.0);
        assert_eq!(config.local_rope_theta, Some(10_000.0));
        assert_eq!(config.hidden_activation, Activation::GeluErf);
        assert!(!config.norm_bias && !config.attention_bias && !config.mlp_bias);
        let global: Vec<bool> = (0..4).map(|l| config.is_global(l)).collect();
        assert_eq!(global, [true, false, false, true]);
        assert_eq!(config.half_window(), 8);
        let (global, local) = config.ropes();
        assert_eq!((global.theta(), local.theta()), (160_000.0, 10_000.0));
        let null_local =
            parse(&MODERNBERT.replace("\"local_attention\": 16", "\"local_rope_theta\": null"))
                .unwrap();
        let ModelConfig::ModernBert(null_local) = null_local else {
            panic!("not modernbert");
        };
        assert_eq!(null_local.ropes().1.theta(), 160_000.0);

        let error = |text: &str| parse(text).unwrap_err().to_string();
        let heads =
            error(&MODERNBERT.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"));
        assert!(
            heads.contains("hidden_size 32 is not a multiple of num_attention_heads 5"),
            "{heads}"
        );
        let every = error(&MODERNBERT.replace(
            "\"local_attention\": 16",
            "\"global_attn_every_n_layers\": 0",
        ));
        assert!(
            every.contains("global_attn_every_n_layers must be >= 1"),
            "{every}"
        );
        let theta =
            error(&MODERNBERT.replace("\"local_attention\": 16", "\"local_rope_theta\": -1.0"));
        assert!(theta.contains("local_rope_theta -1 must be > 0"), "{theta}");
        let act = error(
            &MODERNBERT.replace("\"local_attention\": 16", "\"hidden_activation\": \"relu\""),
        );
        assert!(
            act.contains("hidden_activation \"relu\" is not supported"),
            "{act}"
        );
        assert!(
            error(&MODERNBERT.replace("16}", "\"x\"}"))
                .starts_with("m/config.json: modernbert config")
        );
    }
}
