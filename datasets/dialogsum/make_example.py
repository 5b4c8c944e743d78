#!/usr/bin/env python3
"""Builds the example comparison set (base.jsonl, custom.jsonl) from the AWS sample's DialogSum seed data.

The outputs are synthetic and deterministic, made so `bertscore compare` has something realistic to judge
without calling Bedrock:

- base: LEAD-2, the first two utterances of the dialogue, speaker tags kept. It stands in for an untuned model
  that echoes the start of its prompt instead of summarising (what base models often do on this prompt).
- custom: the reference summary with every third word of its second half dropped. It stands in for a
  fine-tuned model that learned DialogSum's summary style but gets details wrong.

Each line: {"id", "prompt", "completion", "reference"}. Run from the repository root:
    python3 datasets/dialogsum/make_example.py
"""

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEED = ROOT / "datasets" / "dialogsum-seed"
OUT = ROOT / "datasets" / "dialogsum"


def dialogue(prompt: str) -> str:
    # One of the seed prompts carries literal "\n" sequences instead of newlines; read both the same way.
    text = prompt.replace("\\n", "\n")
    text = text.split("Summarize the following conversation.", 1)[-1]
    return text.rsplit("Summary:", 1)[0].strip()


def lead2(prompt: str) -> str:
    turns = [line.strip() for line in dialogue(prompt).splitlines() if line.strip()]
    return " ".join(turns[:2])


def degrade(reference: str) -> str:
    words = reference.split()
    half = len(words) // 2
    kept = words[:half] + [w for i, w in enumerate(words[half:]) if i % 3 != 2]
    return re.sub(r"\s+", " ", " ".join(kept)).strip()


def main() -> None:
    prompts = [row["prompt"] for row in json.loads((SEED / "validation-data.json").read_text())]
    references = json.loads((SEED / "reference-inference.json").read_text())
    assert len(prompts) == len(references), (len(prompts), len(references))
    for name, make in (("base", lambda p, r: lead2(p)), ("custom", lambda p, r: degrade(r))):
        lines = [
            json.dumps(
                {"id": f"dialogsum-{i + 1:02d}", "prompt": p, "completion": make(p, r), "reference": r},
                ensure_ascii=False,
            )
            for i, (p, r) in enumerate(zip(prompts, references))
        ]
        (OUT / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
