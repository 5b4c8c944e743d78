"""supported_model_types(): the engine's one list of config.json model types, as Python sees it; every model
directory in the repository's fixtures is of a listed type and loads through the unchanged BERTScorer API, and
a type outside the list is refused with the same list in the message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import bertscore_rs
from bertscore_rs import BERTScorer, BertScoreError
from conftest import REPO, TINY_BERT

# Every tiny model the repository ships (tests/fixtures/<set>/models/<name>), whatever the family.
MODEL_DIRS = sorted(p.parent for p in (REPO / "tests" / "fixtures").glob("*/models/*/config.json"))


def test_the_list_holds_the_bert_score_families_once() -> None:
    types = bertscore_rs.supported_model_types()
    assert isinstance(types, list) and all(isinstance(t, str) for t in types)
    assert len(set(types)) == len(types), types
    assert {"bert", "roberta", "xlm-roberta", "distilbert", "deberta-v2"} <= set(types)
    assert "supported_model_types" in bertscore_rs.__all__


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=lambda p: p.name)
def test_every_fixture_model_is_a_listed_type_and_scores(model_dir: Path) -> None:
    model_type = json.loads((model_dir / "config.json").read_text())["model_type"]
    assert model_type in bertscore_rs.supported_model_types()
    same = "the weather is nice today"
    P, R, F = bertscore_rs.score(
        ["the cat sat on the mat", same], ["a cat was on the mat", same], model_type=str(model_dir), num_layers=1
    )
    assert F.shape == (2,) and abs(F[1] - 1.0) < 1e-5, F  # a text against itself
    assert -1.0 <= F[0] < F[1], F


def test_an_unlisted_type_is_refused_naming_the_list(tmp_path) -> None:
    broken = tmp_path / "gpt"
    shutil.copytree(TINY_BERT, broken)
    config = json.loads((broken / "config.json").read_text())
    config["model_type"] = "gpt2"
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(BertScoreError) as error:
        BERTScorer(model_type=str(broken), num_layers=1)
    assert error.value.kind == "model"
    assert f"supported: {', '.join(bertscore_rs.supported_model_types())}" in str(error.value)
