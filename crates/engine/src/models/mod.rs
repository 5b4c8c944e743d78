//! BERT-family encoders truncated after `num_layers` layers, one family per file.
//!
//! bert_score truncates `model.encoder.layer` to its first `num_layers` modules and takes the
//! truncated model's last hidden state, so layer 0 is the embedding output. Each encoder here
//! loads only the layers it keeps.
//!
//! config.json is read once into a typed [`ModelConfig`]: `model_type` picks the family, whose serde
//! struct declares the fields it reads (with transformers' defaults where it has them). A config that
//! names an unknown family, lacks a field or holds a malformed one is a model error naming the file.
//!
//! Every family has the same loader shape,
//! `load(vb: VarBuilder, config: &FamilyConfig, num_layers: usize) -> candle_core::Result<Self>`,
//! with `vb` rooted at the encoder (the `bert.`/`roberta.`/... prefix of task-model checkpoints
//! already stripped), so [`load_encoder`] dispatches uniformly on the config's family.

pub mod bert;
pub mod deberta_v2;
pub mod distilbert;
pub mod modernbert;
pub(crate) mod packed;
pub(crate) mod packed_modernbert;
pub(crate) mod packed_qwen3;
pub mod qwen3;
pub mod roberta;

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use serde::{Deserialize, Deserializer};

use crate::{EngineError, Result};

/// An encoder that maps token ids to the hidden states of its last kept layer.
pub trait Encoder: Send + Sync {
    /// `input_ids` and `attention_mask` are `(batch, seq)` u32 tensors (mask: 1 = token, 0 = padding,
    /// padding on the right). Returns `(batch, seq, hidden)` f32 hidden states.
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor>;

    /// The hidden states after the embeddings (index 0) and after each kept layer (index k), all
    /// from one pass, each `(batch, seq, hidden)` f32 (bert_score's `all_layers=True`); the last
    /// one is what [`Encoder::forward`] returns.
    fn forward_all_layers(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>>;

    /// Width of the hidden states.
    fn hidden_size(&self) -> usize;

    /// The weights for the CPU fast path ([`packed::PackedEncoder`]) when this family and this
    /// model's activation fit it (post-LayerNorm layers, exact GELU); `None` otherwise.
    fn post_ln_weights(&self) -> Option<candle_core::Result<packed::PostLnWeights>> {
        None
    }

    /// This model on the CPU kernels with its linear layers in `format`, when this family has a
    /// fast path; `None` otherwise. By default the post-LayerNorm path of
    /// [`Encoder::post_ln_weights`]; families with layers of another shape override it.
    fn fast_encoder(
        &self,
        format: bertscore_kernels::WeightFormat,
    ) -> Option<candle_core::Result<Box<dyn FastEncoder>>> {
        let weights = self.post_ln_weights()?;
        Some(
            weights
                .map(|w| Box::new(packed::PackedEncoder::new(w, format)) as Box<dyn FastEncoder>),
        )
    }
}

/// An encoder on the CPU kernels: the texts of a batch as unpadded token rows.
pub trait FastEncoder: Send + Sync {
    /// Width of the hidden states.
    fn hidden_size(&self) -> usize;

    /// Runs `texts` (token ids, no padding, none empty) and hands each text's last hidden states
    /// (`len × hidden`, row-major) to `each` with the text's index.
    fn forward(
        &self,
        texts: &[&[u32]],
        each: &mut dyn FnMut(usize, &[f32]),
    ) -> candle_core::Result<()>;

    /// As [`FastEncoder::forward`], handing out the hidden states of every block that
    /// [`Encoder::forward_all_layers`] returns as `each(block, text index, rows)`, from one pass.
    fn forward_layers(
        &self,
        texts: &[&[u32]],
        each: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> candle_core::Result<()>;
}

/// The model families we can run, from config.json's `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT (and MiniLM, which is a BERT).
    Bert,
    /// RoBERTa and XLM-RoBERTa: BERT layers, position ids counted from `padding_idx + 1`.
    Roberta,
    /// DistilBERT.
    DistilBert,
    /// DeBERTa-v2 and -v3 (v3 checkpoints say `deberta-v2`).
    DebertaV2,
    /// Qwen3, a decoder used as an embedder (`Qwen3Model`, or a causal LM's `model.`).
    Qwen3,
    /// ModernBERT: pre-LayerNorm layers, rotary embeddings, global and sliding-window attention.
    ModernBert,
}

impl Architecture {
    /// The supported model types: each family with the config.json `model_type` names it reads. The one
    /// list `bertscore models`, `score --help`, Python's `supported_model_types()` and the unsupported-type
    /// error print; a new family adds its entry here (and its arm in [`ModelConfig::parse`]).
    pub const ALL: &'static [(Architecture, &'static [&'static str])] = &[
        (Self::Bert, &["bert"]),
        (Self::Roberta, &["roberta", "xlm-roberta"]),
        (Self::DistilBert, &["distilbert"]),
        (Self::DebertaV2, &["deberta-v2"]),
        (Self::Qwen3, &["qwen3"]),
        (Self::ModernBert, &["modernbert"]),
    ];

    /// The family config.json's `model_type` names, if it is supported.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, names)| names.contains(&model_type))
            .map(|(family, _)| *family)
    }

    /// The prefix the encoder's weights carry in checkpoints saved from a task model
    /// (`BertForMaskedLM` → `bert.embeddings...`); base-model checkpoints have none.
    fn weight_prefix(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::DistilBert => "distilbert",
            Self::DebertaV2 => "deberta",
            Self::Qwen3 | Self::ModernBert => "model",
        }
    }

    /// The token-embedding table's name below the encoder: how a checkpoint with the
    /// [`Architecture::weight_prefix`] is told from one without.
    fn embedding_weight(self) -> &'static str {
        match self {
            Self::Bert | Self::Roberta | Self::DistilBert | Self::DebertaV2 => {
                "embeddings.word_embeddings.weight"
            }
            Self::Qwen3 => "embed_tokens.weight",
            Self::ModernBert => "embeddings.tok_embeddings.weight",
        }
    }
}

/// config.json, typed by family.
#[derive(Debug, Clone)]
pub enum ModelConfig {
    /// `model_type: "bert"`.
    Bert(bert::BertConfig),
    /// `model_type: "roberta"` or `"xlm-roberta"`: BERT's fields (and `pad_token_id`).
    Roberta(bert::BertConfig),
    /// `model_type: "distilbert"`.
    DistilBert(distilbert::DistilBertConfig),
    /// `model_type: "deberta-v2"` (DeBERTa-v2 and -v3).
    DebertaV2(deberta_v2::DebertaV2Config),
    /// `model_type: "qwen3"`.
    Qwen3(qwen3::Qwen3Config),
    /// `model_type: "modernbert"`.
    ModernBert(modernbert::ModernBertConfig),
}

impl ModelConfig {
    /// Reads and checks a model's config.json: an unknown `model_type` is
    /// [`EngineError::UnsupportedArchitecture`]; a missing, mistyped or inconsistent field is
    /// [`EngineError::InvalidFile`] naming the file (and the line, for JSON errors).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| EngineError::ModelFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// As [`Self::from_file`], from the file's text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let invalid = |message: String| EngineError::InvalidFile {
            path: path.to_path_buf(),
            message,
        };
        #[derive(Deserialize)]
        struct ModelType {
            model_type: Option<String>,
        }
        let model_type = serde_json::from_str::<ModelType>(text)
            .map_err(|e| invalid(format!("not a model config: {e}")))?
            .model_type
            .ok_or_else(|| invalid("no model_type field: cannot tell the model family".into()))?;
        fn typed<T: serde::de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
            serde_json::from_str(text)
        }
        let parsed = match Architecture::from_model_type(&model_type) {
            Some(Architecture::Bert) => typed(text).map(Self::Bert),
            Some(Architecture::Roberta) => typed(text).map(Self::Roberta),
            Some(Architecture::DistilBert) => typed(text).map(Self::DistilBert),
            Some(Architecture::DebertaV2) => typed(text).map(Self::DebertaV2),
            Some(Architecture::Qwen3) => typed(text).map(Self::Qwen3),
            Some(Architecture::ModernBert) => typed(text).map(Self::ModernBert),
            None => {
                return Err(EngineError::UnsupportedArchitecture {
                    model_type,
                    config: path.to_path_buf(),
                });
            }
        };
        let config = parsed.map_err(|e| invalid(format!("{model_type} config: {e}")))?;
        config
            .check()
            .map_err(|message| invalid(format!("{model_type} config: {message}")))?;
        Ok(config)
    }

    /// Consistency the types cannot express (head counts that divide the width, supported variants).
    fn check(&self) -> std::result::Result<(), String> {
        match self {
            Self::Bert(config) | Self::Roberta(config) => config.check(),
            Self::DistilBert(config) => config.check(),
            Self::DebertaV2(config) => config.check(),
            Self::Qwen3(config) => config.check(),
            Self::ModernBert(config) => config.check(),
        }
    }

    /// The model family.
    pub fn architecture(&self) -> Architecture {
        match self {
            Self::Bert(_) => Architecture::Bert,
            Self::Roberta(_) => Architecture::Roberta,
            Self::DistilBert(_) => Architecture::DistilBert,
            Self::DebertaV2(_) => Architecture::DebertaV2,
            Self::Qwen3(_) => Architecture::Qwen3,
            Self::ModernBert(_) => Architecture::ModernBert,
        }
    }

    /// How many transformer layers the checkpoint has (the largest valid `num_layers`).
    pub fn num_hidden_layers(&self) -> usize {
        match self {
            Self::Bert(config) | Self::Roberta(config) => config.num_hidden_layers,
            Self::DistilBert(config) => config.n_layers,
            Self::DebertaV2(config) => config.num_hidden_layers(),
            Self::Qwen3(config) => config.num_hidden_layers,
            Self::ModernBert(config) => config.num_hidden_layers,
        }
    }
}

/// Every supported config.json `model_type`, in [`Architecture::ALL`]'s order.
pub fn supported_model_types() -> impl Iterator<Item = &'static str> {
    Architecture::ALL
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
}

/// `heads` divides `width` (and is not 0).
pub(crate) fn check_heads(
    width_name: &str,
    width: usize,
    heads_name: &str,
    heads: usize,
) -> std::result::Result<(), String> {
    if heads == 0 || !width.is_multiple_of(heads) {
        return Err(format!(
            "{width_name} {width} is not a multiple of {heads_name} {heads}"
        ));
    }
    Ok(())
}

/// Loads `model.safetensors` from `model_dir` as the encoder `config` describes, keeping
/// `num_layers` layers (already checked against the model's depth).
pub fn load_encoder(
    model_dir: &Path,
    config: &ModelConfig,
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
    let architecture = config.architecture();
    let prefix = architecture.weight_prefix();
    let vb = if vb.contains_tensor(&format!("{prefix}.{}", architecture.embedding_weight())) {
        vb.pp(prefix)
    } else {
        vb
    };
    let encoder: Box<dyn Encoder> = match config {
        ModelConfig::Bert(config) => {
            Box::new(bert::BertEncoder::load(vb, config, num_layers).map_err(load_error)?)
        }
        ModelConfig::Roberta(config) => {
            Box::new(roberta::RobertaEncoder::load(vb, config, num_layers).map_err(load_error)?)
        }
        ModelConfig::DistilBert(config) => Box::new(
            distilbert::DistilBertEncoder::load(vb, config, num_layers).map_err(load_error)?,
        ),
        ModelConfig::DebertaV2(config) => Box::new(
            deberta_v2::DebertaV2Encoder::load(vb, config, num_layers).map_err(load_error)?,
        ),
        ModelConfig::Qwen3(config) => {
            Box::new(qwen3::Qwen3Encoder::load(vb, config, num_layers).map_err(load_error)?)
        }
        ModelConfig::ModernBert(config) => Box::new(
            modernbert::ModernBertEncoder::load(vb, config, num_layers).map_err(load_error)?,
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
    pub(crate) fn from_name(name: &str) -> std::result::Result<Self, String> {
        match name {
            "gelu" | "gelu_python" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_fast" | "gelu_pytorch_tanh" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            "silu" | "swish" => Ok(Self::Silu),
            other => Err(format!(
                "unsupported activation {other:?} (supported: gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, relu, silu)"
            )),
        }
    }

    /// transformers' default activation, `gelu`.
    pub(crate) fn gelu() -> Self {
        Self::GeluErf
    }
}

impl<'de> Deserialize<'de> for Activation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_name(&name).map_err(serde::de::Error::custom)
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

#[cfg(test)]
mod tests {
    use super::*;

    const BERT: &str = r#"{"model_type": "bert", "vocab_size": 10, "hidden_size": 8,
        "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16,
        "max_position_embeddings": 32}"#;

    fn parse(text: &str) -> Result<ModelConfig> {
        ModelConfig::parse(text, Path::new("m/config.json"))
    }

    fn message(text: &str) -> String {
        let error = parse(text).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Model, "{error}");
        error.to_string()
    }

    #[test]
    fn families_parse_with_defaults() {
        let ModelConfig::Bert(config) = parse(BERT).unwrap() else {
            panic!("not bert");
        };
        assert_eq!(config.hidden_act, Activation::GeluErf);
        assert_eq!(config.layer_norm_eps, 1e-12);
        assert_eq!(config.type_vocab_size, 2);
        let roberta = parse(&BERT.replace("\"bert\"", "\"xlm-roberta\"")).unwrap();
        assert_eq!(roberta.architecture(), Architecture::Roberta);
        assert_eq!(roberta.num_hidden_layers(), 2);
        let distilbert = parse(
            r#"{"model_type": "distilbert", "vocab_size": 10, "dim": 8, "n_layers": 3, "n_heads": 2,
                "hidden_dim": 16, "max_position_embeddings": 32, "activation": "gelu_new"}"#,
        )
        .unwrap();
        assert_eq!(distilbert.num_hidden_layers(), 3);
        let deberta = parse(r#"{"model_type": "deberta-v2", "num_hidden_layers": 4}"#).unwrap();
        assert_eq!(deberta.architecture(), Architecture::DebertaV2);
        assert_eq!(deberta.num_hidden_layers(), 4);
    }

    #[test]
    fn bad_configs_are_model_errors_naming_the_file() {
        let missing = message(&BERT.replace("\"hidden_size\": 8,", ""));
        assert!(
            missing.starts_with("m/config.json: bert config: missing field `hidden_size`"),
            "{missing}"
        );
        let mistyped = message(&BERT.replace("\"hidden_size\": 8", "\"hidden_size\": \"8\""));
        assert!(
            mistyped.contains("invalid type: string \"8\""),
            "{mistyped}"
        );
        assert!(mistyped.contains("line 1"), "{mistyped}");
        let heads =
            message(&BERT.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3"));
        assert!(
            heads.ends_with("hidden_size 8 is not a multiple of num_attention_heads 3"),
            "{heads}"
        );
        let activation = message(&BERT.replace("\"bert\",", "\"bert\", \"hidden_act\": \"mish\","));
        assert!(
            activation.contains("unsupported activation \"mish\""),
            "{activation}"
        );
        let deberta = message(r#"{"model_type": "deberta-v2", "hidden_act": "mish"}"#);
        assert!(
            deberta.contains("hidden_act \"mish\" is not supported"),
            "{deberta}"
        );
        assert!(!deberta.contains("config: deberta-v2 config"), "{deberta}");
        assert!(message("{}").contains("no model_type field"));
        assert!(message("[1, 2]").contains("not a model config"));
        let family = parse(&BERT.replace("\"bert\"", "\"gpt2\"")).unwrap_err();
        assert!(
            matches!(family, EngineError::UnsupportedArchitecture { .. }),
            "{family}"
        );
        assert!(
            family
                .to_string()
                .contains("supported: bert, roberta, xlm-roberta, distilbert, deberta-v2, qwen3"),
            "{family}"
        );
    }
}
