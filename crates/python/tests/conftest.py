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
def dialogsum() -> tuple[list[dict], list[dict]]:
    """The DialogSum example: the base and the fine-tuned model's summaries, with references."""
    folder = REPO / "datasets" / "dialogsum"

    def read(name: str) -> list[dict]:
        return [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines() if line]

    return read("base.jsonl"), read("custom.jsonl")
