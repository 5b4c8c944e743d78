//! Writes a randomly initialised BERT-architecture model of a chosen shape (default: roberta-large's,
//! 24 layers × hidden 1024, 16 heads, intermediate 4096), borrowing a tokenizer from another model
//! directory. For throughput measurements at the size users run in practice without downloading
//! a checkpoint: compute depends only on the shape, not on the weights.
//!
//! `cargo run --release -p bertscore-engine --example random_model -- OUT_DIR TOKENIZER_DIR [LAYERS HIDDEN HEADS INTERMEDIATE]`
//!
//! Weights are N(0, 0.02) as transformers initialises them, LayerNorm γ = 1, β = 0, biases 0.
//! With the all-MiniLM-L6-v2 tokenizer (BERT's WordPiece, 30,522 tokens) texts split into about
//! as many tokens as with roberta-large's BPE.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 && args.len() != 6 {
        bail!("usage: random_model OUT_DIR TOKENIZER_DIR [LAYERS HIDDEN HEADS INTERMEDIATE]");
    }
    let out = PathBuf::from(&args[0]);
    let tokenizer_dir = PathBuf::from(&args[1]);
    let shape: Vec<usize> = if args.len() == 6 {
        args[2..]
            .iter()
            .map(|a| a.parse().context("shape numbers"))
            .collect::<Result<_>>()?
    } else {
        vec![24, 1024, 16, 4096]
    };
    let (layers, hidden, heads, intermediate) = (shape[0], shape[1], shape[2], shape[3]);

    let source_config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tokenizer_dir.join("config.json"))
            .context("tokenizer dir config.json")?,
    )?;
    let vocab = source_config["vocab_size"].as_u64().context("vocab_size")? as usize;
    std::fs::create_dir_all(&out)?;
    for file in [
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "special_tokens_map.json",
    ] {
        let from = tokenizer_dir.join(file);
        if from.is_file() {
            std::fs::copy(&from, out.join(file))?;
        }
    }
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "vocab_size": vocab,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    });
    std::fs::write(
        out.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;

    let device = Device::Cpu;
    let normal = |shape: &[usize]| Tensor::randn(0f32, 0.02, shape, &device);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let norm = |tensors: &mut HashMap<String, Tensor>, prefix: &str| -> Result<()> {
        tensors.insert(
            format!("{prefix}.weight"),
            Tensor::ones(hidden, DType::F32, &device)?,
        );
        tensors.insert(
            format!("{prefix}.bias"),
            Tensor::zeros(hidden, DType::F32, &device)?,
        );
        Ok(())
    };
    let linear =
        |tensors: &mut HashMap<String, Tensor>, prefix: &str, i: usize, o: usize| -> Result<()> {
            tensors.insert(format!("{prefix}.weight"), normal(&[o, i])?);
            tensors.insert(
                format!("{prefix}.bias"),
                Tensor::zeros(o, DType::F32, &device)?,
            );
            Ok(())
        };
    tensors.insert(
        "embeddings.word_embeddings.weight".into(),
        normal(&[vocab, hidden])?,
    );
    tensors.insert(
        "embeddings.position_embeddings.weight".into(),
        normal(&[512, hidden])?,
    );
    tensors.insert(
        "embeddings.token_type_embeddings.weight".into(),
        normal(&[2, hidden])?,
    );
    norm(&mut tensors, "embeddings.LayerNorm")?;
    for l in 0..layers {
        let p = format!("encoder.layer.{l}");
        for name in ["query", "key", "value"] {
            linear(
                &mut tensors,
                &format!("{p}.attention.self.{name}"),
                hidden,
                hidden,
            )?;
        }
        linear(
            &mut tensors,
            &format!("{p}.attention.output.dense"),
            hidden,
            hidden,
        )?;
        norm(&mut tensors, &format!("{p}.attention.output.LayerNorm"))?;
        linear(
            &mut tensors,
            &format!("{p}.intermediate.dense"),
            hidden,
            intermediate,
        )?;
        linear(
            &mut tensors,
            &format!("{p}.output.dense"),
            intermediate,
            hidden,
        )?;
        norm(&mut tensors, &format!("{p}.output.LayerNorm"))?;
    }
    // transformers refuses safetensors files without `format: pt` in their metadata.
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(
        tensors.iter(),
        Some(metadata),
        &out.join("model.safetensors"),
    )?;
    println!(
        "wrote {} ({layers} layers, hidden {hidden}, {heads} heads, intermediate {intermediate}, vocab {vocab})",
        out.display()
    );
    Ok(())
}
