"""Random-weight models of the REAL shapes of ModernBERT-base and Qwen3-0.6B in Hugging Face layout, for speed
figures (benches/bert_score_side_by_side.sh scores them with bertscore and bert_score on the same data).

    python benches/modern_shapes.py [OUT_DIR] [SEED]        (defaults: /tmp/modern-shapes, 0)

writes OUT_DIR/modernbert-base and OUT_DIR/qwen3-0.6b: config.json, model.safetensors (f32) and the tokenizer of
the tiny parity-modern model of the same family (../shared/fixtures/parity-modern/models, or PARITY_MODERN=DIR):
its 2,000-token vocabulary indexes the first rows of the real-size embedding table, so every text tokenizes as
it does for the parity fixtures while the encoder has the real width, depth and vocabulary. Keep OUT_DIR outside
the repository (the weights are 0.6 and 2.4 GB).

Shapes (from the published configs):
- ModernBERT-base: hidden 768, 22 layers, 12 heads, intermediate 1152 (GeGLU: Wi is 768 -> 2304), vocabulary
  50368, global attention every 3rd layer (theta 160000), the others a 128-token sliding window (theta 10000),
  max positions 8192.
- Qwen3-0.6B: hidden 1024, 28 layers, 16 query heads and 8 key/value heads of 128, intermediate 3072 (SwiGLU),
  vocabulary 151936, rope theta 1e6, max positions 40960.

Needs torch and transformers >= 4.53 (ModernBERT and Qwen3), e.g. the bert_score venv of the side-by-side script.
Weights are initialised as the tiny fixtures' (unit-scale embeddings, fan-in scaled matrices, norm weights near 1)
so token vectors stay distinct and cosine scores spread as a trained model's do.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import torch
from transformers import ModernBertConfig, ModernBertModel, Qwen3Config, Qwen3Model

REPO = Path(__file__).resolve().parents[1]
TINY = Path(os.environ.get("PARITY_MODERN", REPO.parent / "shared" / "fixtures" / "parity-modern")) / "models"

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"]


def modernbert_base() -> ModernBertModel:
    return ModernBertModel(ModernBertConfig(
        vocab_size=50368, hidden_size=768, num_hidden_layers=22, num_attention_heads=12, intermediate_size=1152,
        max_position_embeddings=8192, global_attn_every_n_layers=3, local_attention=128,
        global_rope_theta=160000.0, local_rope_theta=10000.0, norm_eps=1e-5, hidden_activation="gelu",
        pad_token_id=0, cls_token_id=2, sep_token_id=3, bos_token_id=2, eos_token_id=3, reference_compile=False))


def qwen3_0_6b() -> Qwen3Model:
    return Qwen3Model(Qwen3Config(
        vocab_size=151936, hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
        head_dim=128, intermediate_size=3072, max_position_embeddings=40960, rms_norm_eps=1e-6,
        rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False, pad_token_id=0,
        bos_token_id=0, eos_token_id=0))


def initialise(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("embeddings" in name or "embed_tokens" in name) and p.dim() == 2:
                torch.nn.init.normal_(p, std=1.0)
            elif p.dim() == 2:
                torch.nn.init.normal_(p, std=p.shape[1] ** -0.5)
            elif "norm.weight" in name.lower():
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                torch.nn.init.normal_(p, std=0.05)


def write(model: torch.nn.Module, tiny: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    initialise(model)
    model.save_pretrained(out, safe_serialization=True)
    max_length = model.config.max_position_embeddings
    for name in TOKENIZER_FILES:
        if (tiny / name).is_file():
            shutil.copyfile(tiny / name, out / name)
    # The tokenizer's own length limit is the model's context, as in the published checkpoints.
    config_path = out / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    tokenizer_config["model_max_length"] = max_length
    config_path.write_text(json.dumps(tokenizer_config, indent=2))
    params = sum(p.numel() for p in model.parameters())
    print(f"{out}: {type(model).__name__}, {params / 1e6:.0f} M parameters", flush=True)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/modern-shapes")
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if out.resolve().is_relative_to(REPO):
        sys.exit(f"{out}: inside the repository; write the (GB-sized) models elsewhere")
    torch.manual_seed(seed)
    write(modernbert_base(), TINY / "tiny-modernbert", out / "modernbert-base")
    torch.manual_seed(seed + 1)
    write(qwen3_0_6b(), TINY / "tiny-qwen3", out / "qwen3-0.6b")


if __name__ == "__main__":
    main()
