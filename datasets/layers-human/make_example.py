"""Makes planted.jsonl: a SYNTHETIC human-judgment set for trying `bertscore layers --human` (no real judgments ship
with this repository). The 150 pairs of tests/fixtures/parity/baseline-command/pairs.jsonl, each with a `score`
equal to tiny-bert's F1 at layer 2 plus seeded uniform noise (half-width a tenth of that layer's F1 range), so
the command should recommend layer 2.

    python datasets/layers-human/make_example.py [BERTSCORE]      (default: target/debug/bertscore; run from the repo root)
"""

import json
import random
import subprocess
import sys

bertscore = sys.argv[1] if len(sys.argv) > 1 else "target/debug/bertscore"
pairs_file = "tests/fixtures/parity/baseline-command/pairs.jsonl"
model, layer = "tests/fixtures/parity/models/tiny-bert", 2
rows = subprocess.run(
    [bertscore, "score", "--input", pairs_file, "-m", model, "-l", "3", "--all-layers", "--format", "jsonl"],
    check=True, capture_output=True, text=True).stdout.splitlines()
f1 = [json.loads(row)["f1"][layer] for row in rows]
pairs = [json.loads(line) for line in open(pairs_file, encoding="utf-8") if line.strip()]
assert len(pairs) == len(f1)
noise = 0.1 * (max(f1) - min(f1))
rng = random.Random(0)
with open("datasets/layers-human/planted.jsonl", "w", encoding="utf-8") as out:
    for pair, f in zip(pairs, f1):
        pair["score"] = round(f + rng.uniform(-noise, noise), 6)
        out.write(json.dumps(pair, ensure_ascii=False) + "\n")
