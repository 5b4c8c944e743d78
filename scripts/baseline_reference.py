"""Reference numbers for `bertscore baseline --pairs-file`, computed with the Python package bert_score.

For every pair of a JSONL file ({"candidate": ..., "reference": ...} per line) bert_score scores the pair at
every layer (`bert_score.score(..., all_layers=True)`, batch size 64, idf off, no rescaling, slow tokenizer
as bert_score loads it); the baseline of a layer is the mean P, R and F over the pairs, written in
bert_score's baseline format (LAYER,P,R,F).

Usage (bert-score 0.3.13, transformers 4.46.3, torch 2.5.1, CPU):
    python scripts/baseline_reference.py MODEL_DIR PAIRS.jsonl NUM_LAYERS OUT.tsv
e.g.
    python scripts/baseline_reference.py tests/fixtures/parity/models/tiny-bert \
        tests/fixtures/parity/baseline-command/pairs.jsonl 3 \
        tests/fixtures/parity/baseline-command/tiny-bert.tsv
"""
import json
import sys

import bert_score
import torch
import transformers

model_dir, pairs_path, num_layers, out_path = sys.argv[1:5]
torch.set_num_threads(2)
cands, refs = [], []
with open(pairs_path, encoding="utf-8") as f:
    for line in f:
        if line.strip():
            pair = json.loads(line)
            cands.append(pair["candidate"])
            refs.append(pair["reference"])
P, R, F = bert_score.score(
    cands, refs, model_type=model_dir, num_layers=int(num_layers), all_layers=True, batch_size=64
)
# With all_layers=True each of P, R, F is (layers, pairs).
rows = ["LAYER,P,R,F"]
for layer in range(P.shape[0]):
    p, r, f = (float(x[layer].double().mean()) for x in (P, R, F))
    rows.append(f"{layer},{p!r},{r!r},{f!r}")
with open(out_path, "w", encoding="utf-8") as f:
    f.write("\n".join(rows) + "\n")
print(
    f"{out_path}: {len(cands)} pairs, {P.shape[0]} layers "
    f"(bert-score {bert_score.__version__}, transformers {transformers.__version__}, torch {torch.__version__})"
)
