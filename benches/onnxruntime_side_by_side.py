#!/usr/bin/env python3
"""BERTScore through ONNX Runtime, f32 and dynamic int8, on bert_score's benchmark set: the peer of
`bertscore --dtype int8` (docs/performance.md, "int8").

The model (all-MiniLM-L6-v2 by default, cut to LAYERS layers as bert_score does) is exported with
torch.onnx.export; the int8 model is onnxruntime.quantization.quantize_dynamic with per-channel int8
weights (the recipe users follow for sentence-transformers): ONNX Runtime's dynamic quantization
computes one activation scale per tensor, i.e. per padded batch. Texts are deduplicated and embedded
in batches of 64 sorted by length (as bert_score does), greedy matching without idf as bert_score
(special tokens weigh 0). Sessions are created before the clock; both warm up on the first 64 pairs.

    PYTHONPATH=/tmp/int8-ort python benches/onnxruntime_side_by_side.py [THREADS] [PAIRS] [MODEL_DIR] [LAYERS]

Needs torch, transformers, onnxruntime and onnx. Prints one JSON line per model: pairs/s, tokens/s,
mean F1 and, for int8, mean and max |ΔF1| against ONNX Runtime's f32.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModel, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 0
default_model = Path.home() / ".cache/bertscore/models/sentence-transformers--all-MiniLM-L6-v2"
model_dir = sys.argv[3] if len(sys.argv) > 3 else str(default_model)
layers = int(sys.argv[4]) if len(sys.argv) > 4 else 6
BATCH = 64

cands = (ROOT / "datasets/bert-score-example/hyps_long.txt").read_text().splitlines()
refs = (ROOT / "datasets/bert-score-example/refs_long.txt").read_text().splitlines()
if pairs:
    cands, refs = cands[:pairs], refs[:pairs]

tokenizer = AutoTokenizer.from_pretrained(model_dir)
torch.set_num_threads(threads)


def export(directory):
    model = AutoModel.from_pretrained(model_dir).eval()
    model.encoder.layer = model.encoder.layer[:layers]
    example = tokenizer(["a b c", "d"], return_tensors="pt", padding=True)
    path = os.path.join(directory, "model.onnx")
    torch.onnx.export(
        model,
        (example["input_ids"], example["attention_mask"]),
        path,
        input_names=["input_ids", "attention_mask"],
        output_names=["hidden"],
        dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "hidden": {0: "b", 1: "s"}},
        opset_version=17,
    )
    quantized = os.path.join(directory, "model-int8.onnx")
    quantize_dynamic(path, quantized, per_channel=True, weight_type=QuantType.QInt8)
    return path, quantized


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def embed(sess, texts):
    """Each distinct text's L2-normalized token vectors (special tokens included) and its ids."""
    distinct = sorted(set(texts), key=lambda t: -len(t.split()))
    vectors = {}
    tokens = 0
    for start in range(0, len(distinct), BATCH):
        batch = distinct[start : start + BATCH]
        enc = tokenizer(batch, padding=True, truncation=True, max_length=tokenizer.model_max_length, return_tensors="np")
        ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        hidden = sess.run([sess.get_outputs()[0].name], {"input_ids": ids, "attention_mask": mask})[0]
        for text, h, m, i in zip(batch, hidden, mask, ids):
            n = int(m.sum())
            tokens += n
            v = h[:n].astype(np.float64)
            vectors[text] = (v / np.linalg.norm(v, axis=1, keepdims=True), i[:n])
    return vectors, tokens


special = {tokenizer.cls_token_id, tokenizer.sep_token_id}


def score(sess, cands, refs):
    vectors, tokens = embed(sess, cands + refs)
    f1s = []
    for c, r in zip(cands, refs):
        (cv, ci), (rv, ri) = vectors[c], vectors[r]
        sim = cv @ rv.T
        cw = np.array([0.0 if t in special else 1.0 for t in ci])
        rw = np.array([0.0 if t in special else 1.0 for t in ri])
        p = (sim.max(1) * cw).sum() / cw.sum()
        rec = (sim.max(0) * rw).sum() / rw.sum()
        f1s.append(2 * p * rec / (p + rec))
    return np.array(f1s), tokens


with tempfile.TemporaryDirectory() as directory:
    f32_path, int8_path = export(directory)
    results = {}
    for name, path in [("onnxruntime f32", f32_path), ("onnxruntime dynamic int8 (per-channel weights)", int8_path)]:
        sess = session(path)
        score(sess, cands[:64], refs[:64])  # warm-up
        start = time.perf_counter()
        f1, tokens = score(sess, cands, refs)
        seconds = time.perf_counter() - start
        results[name] = f1
        line = {
            "side": name,
            "onnxruntime": ort.__version__,
            "threads": threads,
            "pairs": len(cands),
            "seconds": round(seconds, 3),
            "pairs_per_second": round(len(cands) / seconds, 1),
            "tokens_per_second": round(tokens / seconds),
            "mean_f1": round(float(f1.mean()), 6),
        }
        if name != "onnxruntime f32":
            delta = np.abs(f1 - results["onnxruntime f32"])
            line["mean_abs_delta_f1_vs_f32"] = float(f"{delta.mean():.2e}")
            line["max_abs_delta_f1_vs_f32"] = float(f"{delta.max():.2e}")
        print(json.dumps(line), flush=True)
