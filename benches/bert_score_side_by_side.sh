#!/usr/bin/env bash
# bertscore-rs and bert_score on the same data, model, layer and thread count, one after the other on the same
# machine, printed side by side with the ratio.
#   benches/bert_score_side_by_side.sh [THREADS] [DTYPE]     (defaults: 2, f32)
# bert_score runs only when `python3 -c "import bert_score"` works (pip install bert-score==0.3.13
# transformers==4.46.3 torch); it scores the same all-MiniLM-L6-v2 directory our default-model path resolved.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
dtype="${2:-f32}"
cands=datasets/bert-score-example/hyps_long.txt
refs=datasets/bert-score-example/refs_long.txt

cargo build --release --quiet -p bertscore-cli
ours="$(target/release/bertscore bench -c "$cands" -r "$refs" --threads "$threads" --dtype "$dtype" --json)"
echo "$ours"
model_dir="$(python3 - <<'PY'
import os, pathlib
cache = os.environ.get("BERTSCORE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bertscore")
print(pathlib.Path(cache) / "models" / "sentence-transformers--all-MiniLM-L6-v2")
PY
)"

if ! python3 -c "import bert_score" 2>/dev/null; then
    echo "bert_score is not installed: only bertscore-rs was measured" >&2
    exit 0
fi
theirs="$(python3 - "$model_dir" "$cands" "$refs" "$threads" <<'PY'
import json, sys, time
import torch
from bert_score import score
model_dir, cands, refs, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
c = [l.rstrip("\n") for l in open(cands, encoding="utf-8")]
r = [l.rstrip("\n") for l in open(refs, encoding="utf-8")]
score(c[:64], r[:64], model_type=model_dir, num_layers=6)  # warm-up, as ours
start = time.perf_counter()
P, R, F = score(c, r, model_type=model_dir, num_layers=6, batch_size=64)
seconds = time.perf_counter() - start
print(json.dumps({"pairs": len(c), "seconds": seconds, "pairs_per_second": len(c) / seconds, "mean_f1": F.mean().item()}))
PY
)"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| | pairs/s | s | mean F1 |\n|---|---|---|---|")
print(f"| bertscore-rs ({ours['dtype']}) | {ours['pairs_per_second']:.1f} | {ours['seconds']:.2f} | {ours['mean_f1']:.6f} |")
print(f"| bert_score 0.3.13 | {theirs['pairs_per_second']:.1f} | {theirs['seconds']:.2f} | {theirs['mean_f1']:.6f} |")
print(f"ratio: {ours['pairs_per_second'] / theirs['pairs_per_second']:.2f}x")
PY
