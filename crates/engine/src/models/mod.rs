//! BERT-family encoders truncated after `num_layers` layers, one family per file.
//!
//! bert_score truncates `model.encoder.layer` to its first `num_layers` modules and takes the
//! truncated model's last hidden state, so layer 0 is the embedding output. Each encoder here
//! loads only the layers it keeps.
//!
//! Every family has the same loader shape,
//! `load(vb: VarBuilder, config: &serde_json::Value, num_layers: usize) -> candle_core::Result<Self>`,
//! with `vb` rooted at the encoder (the `bert.`/`roberta.`/... prefix of task-model checkpoints
//! already stripped), so [`load_encoder`] dispatches uniformly on config.json's `model_type`.

pub mod bert;
pub mod deberta_v2;
pub mod distilbert;
pub mod packed;
pub mod roberta;

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use serde_json::Value;

use crate::{EngineError, Result};

/// An encoder that maps token ids to the hidden states of its last kept layer.
pub trait Encoder: Send + Sync {
    /// `input_ids` and `attention_mask` are `(batch, seq)` u32 tensors (mask: 1 = token, 0 = padding,
    /// padding on the right). Returns `(batch, seq, hidden)` f32 hidden states.
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor>;

    /// Width of the hidden states.
    fn hidden_size(&self) -> usize;

    /// The weights for the CPU fast path ([`packed::PackedEncoder`]) when this family and this
    /// model's activation fit it (post-LayerNorm layers, exact GELU); `None` otherwise.
    fn post_ln_weights(&self) -> Option<candle_core::Result<packed::PostLnWeights>> {
        None
    }
}

/// The model families we can run, from config.json's `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Bert,
    /// RoBERTa and XLM-RoBERTa: BERT layers, position ids counted from `padding_idx + 1`.
    Roberta,
    DistilBert,
    /// DeBERTa-v2 and -v3 (v3 checkpoints say `deberta-v2`).
    DebertaV2,
}

impl Architecture {
    /// Reads `model_type` from config.json (`config_path` only names the file in errors).
    pub fn from_config(config: &Value, config_path: &Path) -> Result<Self> {
        let model_type = config
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("<missing>");
        match model_type {
            "bert" => Ok(Self::Bert),
            "roberta" | "xlm-roberta" => Ok(Self::Roberta),
            "distilbert" => Ok(Self::DistilBert),
            "deberta-v2" => Ok(Self::DebertaV2),
            other => Err(EngineError::UnsupportedArchitecture {
                model_type: other.to_string(),
                config: config_path.to_path_buf(),
            }),
        }
    }

    /// How many transformer layers the checkpoint has (the largest valid `num_layers`).
    pub fn num_hidden_layers(self, config: &Value) -> Option<usize> {
        let key = match self {
            Self::DistilBert => "n_layers",
            _ => "num_hidden_layers",
        };
        config.get(key).and_then(Value::as_u64).map(|n| n as usize)
    }

    /// The prefix the encoder's weights carry in checkpoints saved from a task model
    /// (`BertForMaskedLM` → `bert.embeddings...`); base-model checkpoints have none.
    fn weight_prefix(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::DistilBert => "distilbert",
            Self::DebertaV2 => "deberta",
        }
    }
}

/// Loads `model.safetensors` from `model_dir` as an encoder of `arch` keeping `num_layers` layers
/// (already checked against the model's depth).
pub fn load_encoder(
    model_dir: &Path,
    config: &Value,
    arch: Architecture,
    num_layers: usize,
    dtype: DType,
    device: &Device,
) -> Result<Box<dyn Encoder>> {
    let weights = model_dir.join("model.safetensors");
    if !weights.is_file() {
        let hint = if model_dir.join("pytorch_model.bin").is_file() {
            " (it has pytorch_model.bin only: convert it to safetensors, e.g. with transformers' save_pretrained(safe_serialization=True))"
        } else {
            ""
        };
        return Err(EngineError::MissingModelFile {
            dir: model_dir.to_path_buf(),
            file: format!("model.safetensors{hint}"),
        });
    }
    let load_error = |source| EngineError::ModelLoad {
        dir: model_dir.to_path_buf(),
        source,
    };
    // SAFETY: the file is memory-mapped read-only; like every safetensors user we rely on nobody
    // truncating it while the scorer lives.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], dtype, device) }
        .map_err(load_error)?;
    let prefix = arch.weight_prefix();
    let vb = if vb.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight")) {
        vb.pp(prefix)
    } else {
        vb
    };
    let encoder: Box<dyn Encoder> = match arch {
        Architecture::Bert => {
            Box::new(bert::BertEncoder::load(vb, config, num_layers).map_err(load_error)?)
        }
        Architecture::Roberta => {
            Box::new(roberta::RobertaEncoder::load(vb, config, num_layers).map_err(load_error)?)
        }
        Architecture::DistilBert => Box::new(
            distilbert::DistilBertEncoder::load(vb, config, num_layers).map_err(load_error)?,
        ),
        Architecture::DebertaV2 => Box::new(
            deberta_v2::DebertaV2Encoder::load(vb, config, num_layers).map_err(load_error)?,
        ),
    };
    Ok(encoder)
}

/// The feed-forward activation named by config.json (`hidden_act`, DistilBERT's `activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// transformers' "gelu": the exact erf form.
    GeluErf,
    /// "gelu_new", "gelu_fast", "gelu_pytorch_tanh": the tanh approximation.
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    pub(crate) fn from_name(name: &str) -> candle_core::Result<Self> {
        match name {
            "gelu" | "gelu_python" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_fast" | "gelu_pytorch_tanh" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            "silu" | "swish" => Ok(Self::Silu),
            other => Err(candle_core::Error::Msg(format!(
                "unsupported activation {other:?} in config.json"
            ))),
        }
    }
}

impl Module for Activation {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::GeluErf => xs.gelu_erf(),
            Self::GeluTanh => xs.gelu(),
            Self::Relu => xs.relu(),
            Self::Silu => xs.silu(),
        }
    }
}

/// A LayerNorm stored as `weight`/`bias`, or as `gamma`/`beta` in checkpoints converted from the
/// original TensorFlow BERT.
pub(crate) fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    let (weight, bias) = if vb.contains_tensor("weight") {
        (vb.get(size, "weight")?, vb.get(size, "bias")?)
    } else {
        (vb.get(size, "gamma")?, vb.get(size, "beta")?)
    };
    Ok(LayerNorm::new(weight, bias, eps))
}

/// The additive attention bias for padding keys, `(batch, 1, 1, seq)`: 0 on tokens, the dtype's
/// lowest finite value on padding (what transformers adds).
pub(crate) fn padding_bias(attention_mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let lowest = match dtype {
        DType::F16 => -65504.0,
        DType::BF16 => -3.389_531_389_251_535e38,
        DType::F64 => f64::MIN,
        _ => f64::from(f32::MIN),
    };
    let (batch, seq) = attention_mask.dims2()?;
    let padding = attention_mask.to_dtype(DType::F32)?.affine(-1.0, 1.0)?;
    (padding.to_dtype(dtype)? * lowest)?.reshape((batch, 1, 1, seq))
}

/// A linear layer applied to `(batch, seq, in)` as one `(batch·seq, in) × (in, out)` product.
///
/// candle's `Linear` on a 3-D input runs one small GEMM per text (`seq × in × out`, a few dozen rows);
/// flattening the batch gives the GEMM one tall matrix it can block and thread well. Same products,
/// same sums per output element.
pub(crate) fn dense(layer: &candle_nn::Linear, xs: &Tensor) -> candle_core::Result<Tensor> {
    match xs.dims() {
        &[batch, seq, width] => {
            let flat = layer.forward(&xs.reshape((batch * seq, width))?)?;
            let out = flat.dim(1)?;
            flat.reshape((batch, seq, out))
        }
        _ => layer.forward(xs),
    }
}

/// `config[key]` as a count.
pub(crate) fn config_usize(config: &Value, key: &str) -> candle_core::Result<usize> {
    config
        .get(key)
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| candle_core::Error::Msg(format!("config.json lacks the integer {key:?}")))
}

/// `config[key]` as a float, or `default` when absent.
pub(crate) fn config_f64_or(config: &Value, key: &str, default: f64) -> f64 {
    config.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// `config[key]` as a string, or `default` when absent.
pub(crate) fn config_str_or<'a>(config: &'a Value, key: &str, default: &'a str) -> &'a str {
    config.get(key).and_then(Value::as_str).unwrap_or(default)
}

/// Multi-head attention core shared by the BERT-style families: softmax(q kᵀ/√d + bias) v with
/// `q`, `k`, `v` as `(batch, seq, hidden)`; returns `(batch, seq, hidden)`.
pub(crate) fn multi_head_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    num_heads: usize,
) -> candle_core::Result<Tensor> {
    let (batch, seq, hidden) = q.dims3()?;
    let head_dim = hidden / num_heads;
    let split = |t: &Tensor| -> candle_core::Result<Tensor> {
        t.reshape((batch, seq, num_heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?;
    let scores = scores.broadcast_add(bias)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs
        .matmul(&v)?
        .transpose(1, 2)?
        .reshape((batch, seq, hidden))
}
