#!/usr/bin/env python3
"""Per linear layer of a BERT-family model: do a few input channels dominate the activations' range?

For each linear layer's input over bert_score's benchmark set: per channel max|x| and its 99.9th percentile
of |x|; per token row the ratio max|x| / RMS(x) (what a per-row int8 scale has to cover) and how many channels
of the row exceed 6 x its RMS (the outliers `--dtype int8` computes in f32). Needs torch and transformers.

    python benches/int8_activation_ranges.py MODEL_DIR [PAIRS]
"""
import sys
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
model_dir = sys.argv[1]
pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 300
texts = []
for name in ("hyps_long.txt", "refs_long.txt"):
    texts += (ROOT / "datasets/bert-score-example" / name).read_text().splitlines()[:pairs]

tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModel.from_pretrained(model_dir).eval()
inputs = {}


def hook(name):
    def record(_module, args):
        inputs.setdefault(name, []).append(args[0].detach().reshape(-1, args[0].shape[-1]))

    return record


for name, module in model.named_modules():
    if isinstance(module, torch.nn.Linear) and "pooler" not in name and not name.endswith(("key", "value")):
        module.register_forward_pre_hook(hook(name))

with torch.no_grad():
    for text in texts:  # one text per batch: no padding rows in the statistics
        model(**tokenizer(text, return_tensors="pt", truncation=True))

print(f"{len(texts)} texts; per linear layer input (query stands for query/key/value):")
print(f"{'layer':42} {'rows':>6} {'max|x|':>8} {'p99.9 ch':>8} {'top ch':>14} {'row max/rms':>18} {'>6 rms/row':>16}")
for name, rows in inputs.items():
    x = torch.cat(rows).abs().float()
    channel_max = x.max(0).values
    channel_p999 = torch.quantile(x, 0.999, dim=0)
    top = torch.topk(channel_max, 3)
    rms = x.pow(2).mean(1).sqrt()
    ratio = x.max(1).values / rms
    outliers = (x > 6 * rms[:, None]).sum(1).float()
    print(
        f"{name:42} {x.shape[0]:6d} {channel_max.max():8.2f} {channel_p999.median():8.2f} "
        f"{','.join(str(i) for i in top.indices.tolist()):>14} "
        f"{ratio.median():6.1f} (max {ratio.max():5.1f}) {outliers.mean():5.2f} (max {int(outliers.max()):3d})"
    )
