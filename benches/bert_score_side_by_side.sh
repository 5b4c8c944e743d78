#!/usr/bin/env bash
# bertscore-rs and bert_score on the same data, model, layer and thread count, one after the other on the same
# machine, printed side by side with the ratios.
#
#   benches/bert_score_side_by_side.sh [THREADS] [DTYPES]      (defaults: 2, "f32 fast")
#
# Environment:
#   PYTHON     the Python that has bert_score (default python3). To make one:
#                python3 -m venv /tmp/bsvenv
#                /tmp/bsvenv/bin/pip install torch==2.5.1 transformers==4.46.3 bert-score==0.3.13
#              (ModernBERT and Qwen3 need transformers 4.53.3, the version of the parity-modern fixtures)
#   BERTSCORE  the bertscore binary (default: builds target/release/bertscore)
#   MODEL      a local model directory (default: the all-MiniLM-L6-v2 directory our default-model path resolved)
#   LAYERS     layer to score with (default 6); PAIRS: score only the first N pairs (default: all 3004)
#   SIDES      which sides to run (default "ours bert_score"; "bert_score" alone measures bert_score only)
#
# Modern shapes (random weights of ModernBERT-base and Qwen3-0.6B, written by benches/modern_shapes.py):
#   MODEL=/tmp/modern-shapes/modernbert-base LAYERS=22 PAIRS=300 benches/bert_score_side_by_side.sh
#   MODEL=/tmp/modern-shapes/qwen3-0.6b LAYERS=28 PAIRS=300 benches/bert_score_side_by_side.sh
#
# Both sides load the model before the clock starts and warm up on the first 64 pairs; bert_score runs through
# BERTScorer (model loaded once) with batch_size 64 and torch.set_num_threads(THREADS); it scores the same
# all-MiniLM-L6-v2 directory our default-model path resolved. Each non-f32 run of ours also reports its mean
# |ΔF1| against f32 (--against-f32). bert_score's tokens/s counts the tokens of its distinct texts (it embeds each
# once, as we do), special tokens included.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
dtypes="${2:-f32 fast}"
python="${PYTHON:-python3}"
sides="${SIDES:-ours bert_score}"
cands=datasets/bert-score-example/hyps_long.txt
refs=datasets/bert-score-example/refs_long.txt

if [[ " $sides " == *" ours "* && -z "${BERTSCORE:-}" ]]; then
    cargo build --release --quiet -p bertscore-cli
    BERTSCORE=target/release/bertscore
fi

model_dir="${MODEL:-$("$python" - <<'PY'
import os, pathlib
cache = os.environ.get("BERTSCORE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bertscore")
print(pathlib.Path(cache) / "models" / "sentence-transformers--all-MiniLM-L6-v2")
PY
)}"
layers="${LAYERS:-6}"
pairs="${PAIRS:-0}"
limit=()
[[ "$pairs" != 0 ]] && limit=(--pairs "$pairs")

load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
ours=()
[[ " $sides " == *" ours "* ]] || dtypes=""
for dtype in $dtypes; do
    extra=()
    [[ "$dtype" != f32 ]] && extra=(--against-f32)
    ours+=("$("$BERTSCORE" bench -c "$cands" -r "$refs" -m "$model_dir" --num-layers "$layers" --threads "$threads" \
        --dtype "$dtype" --json "${limit[@]}" "${extra[@]}")")
done

if ! "$python" -c "import bert_score" 2>/dev/null; then
    echo "bert_score is not importable by $python: only bertscore-rs was measured" >&2
    printf '%s\n' "${ours[@]}"
    exit 0
fi
theirs="$("$python" - "$model_dir" "$cands" "$refs" "$threads" "$layers" "$pairs" <<'PY'
import json, sys, time
import torch
import transformers
import bert_score
from bert_score import BERTScorer
model_dir, cands, refs, threads, layers, pairs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
c = [l.rstrip("\n") for l in open(cands, encoding="utf-8")]
r = [l.rstrip("\n") for l in open(refs, encoding="utf-8")]
if pairs:
    c, r = c[:pairs], r[:pairs]
scorer = BERTScorer(model_type=model_dir, num_layers=layers, batch_size=64)
scorer.score(c[:64], r[:64])  # warm-up, as ours
from bert_score.utils import sent_encode
tokens = sum(len(sent_encode(scorer._tokenizer, s)) for s in set(c) | set(r))
start = time.perf_counter()
P, R, F = scorer.score(c, r)
seconds = time.perf_counter() - start
print(json.dumps({"pairs": len(c), "seconds": seconds, "pairs_per_second": len(c) / seconds,
                  "tokens_per_second": tokens / seconds,
                  "mean_f1": F.mean().item(), "F": F.tolist(), "torch": torch.__version__,
                  "transformers": transformers.__version__,
                  "threads": torch.get_num_threads()}))
PY
)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
"$python" - "$theirs" "$load_before" "$load_after" "${ours[@]}" <<'PY'
import json, sys
theirs = json.loads(sys.argv[1])
first = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
cpu = first.get('cpu') or next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
print(f"CPU: {cpu}; load average (1, 5, 15 min) before {sys.argv[2]}, after {sys.argv[3]}")
print(f"bert_score on {theirs['pairs']} pairs, torch {theirs['torch']}, transformers {theirs['transformers']}, "
      f"{theirs['threads']} threads\n")
print("| | kernel | pairs/s | s | tokens/s | mean F1 | mean \\|ΔF1\\| vs f32 (max) | × bert_score |")
print("|---|---|---|---|---|---|---|---|")
print(f"| bert_score 0.3.13 (f32) | torch | {theirs['pairs_per_second']:.1f} | {theirs['seconds']:.2f} | "
      f"{theirs['tokens_per_second']:.0f} | "
      f"{theirs['mean_f1']:.6f} | | 1.00 |")
for raw in sys.argv[4:]:
    ours = json.loads(raw)
    dev = ours.get("f1_deviation_from_f32")
    dev = f"{dev['mean_abs']:.1e} ({dev['max_abs']:.1e})" if dev else ""
    dtype = ours['dtype'] if ours['dtype'] == ours.get('precision', ours['dtype']) else f"{ours['dtype']} → {ours['precision']}"
    print(f"| bertscore-rs ({dtype}) | {ours['encoder']}: {ours.get('kernel', '')} | {ours['pairs_per_second']:.1f} | "
          f"{ours['seconds']:.2f} | {ours['tokens_per_second']:.0f} | {ours['mean_f1']:.6f} | {dev} | "
          f"{ours['pairs_per_second'] / theirs['pairs_per_second']:.2f} |")
PY
