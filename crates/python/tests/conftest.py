"""Shared paths and data for the bertscore_rs tests: the engine's parity fixtures and example datasets, read
from the repository (these tests run from a checkout, against the installed wheel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "parity"
TINY_ROBERTA = str(FIXTURES / "models" / "tiny-roberta")
TINY_BERT = str(FIXTURES / "models" / "tiny-bert")
TINY_DEBERTA = str(FIXTURES / "models" / "tiny-deberta-v2")


def case(name: str) -> dict:
    """A parity case: its model, settings, inputs and bert_score's P, R, F."""
    return json.loads((FIXTURES / "cases" / f"{name}.json").read_text(encoding="utf-8"))


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def wmt_pairs() -> tuple[list[str], list[str]]:
    """bert_score's example data: 3,004 candidate/reference pairs (WMT16 de-en)."""
    example = REPO / "datasets" / "bert-score-example"
    hyps, refs = lines(example / "hyps_long.txt"), lines(example / "refs_long.txt")
    assert len(hyps) == len(refs) >= 2000
    return hyps, refs


@pytest.fixture(scope="session")
def negative_max() -> tuple[list[str], list[list[str]]]:
    """400 candidates from the negative-max parity inputs, on which tiny-deberta-v2 at layer 3 has many tokens
    whose best match is negative (so bert_score's padding groups change their scores): each candidate with
    another row's reference, every third with a second one (543 flattened pairs, 9 padding groups)."""
    inputs = case("tiny-deberta-v2-L3-negative-max")
    cands, refs = inputs["cands"], inputs["refs"]
    n = len(cands)
    rows = [
        (cands[i % n], [refs[(7 * i + 3) % n]] + ([refs[(11 * i + 5) % n]] if i % 3 == 0 else []))
        for i in range(400)
    ]
    return [c for c, _ in rows], [g for _, g in rows]


@pytest.fixture(scope="session")
def dialogsum() -> tuple[list[dict], list[dict]]:
    """The DialogSum example: the base and the fine-tuned model's summaries, with references."""
    folder = REPO / "datasets" / "dialogsum"

    def read(name: str) -> list[dict]:
        return [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines() if line]

    return read("base.jsonl"), read("custom.jsonl")
