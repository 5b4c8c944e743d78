"""bertscore_rs.score reproduces bert_score 0.3.13 on every visible parity case (the fixtures the engine's
own parity tests use): P, R and F within 1e-4, as numpy float32 arrays."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import bertscore_rs
from conftest import FIXTURES, TINY_BERT

CASES = sorted((FIXTURES / "cases").glob("*.json"))


def test_there_are_cases() -> None:
    assert len(CASES) >= 14


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_score_matches_bert_score(path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    kwargs = {"num_layers": case["num_layers"], "idf": case["idf"]}
    if case["model"] != "all-MiniLM-L6-v2":
        kwargs["model_type"] = str(FIXTURES / "models" / case["model"])
    # else: no model_type, no lang: the package's default model, all-MiniLM-L6-v2.
    if case.get("baseline"):
        kwargs.update(rescale_with_baseline=True, baseline_path=FIXTURES / case["baseline"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the edge cases warn about empty texts, as bert_score does
        (P, R, F), hash_ = bertscore_rs.score(case["cands"], case["refs"], return_hash=True, **kwargs)

    for name, got in zip("PRF", (P, R, F)):
        expected = np.asarray(case["expected"][name], dtype=np.float64)
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        assert got.shape == expected.shape == (len(case["cands"]),)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4, err_msg=f"{path.stem} {name}")
    assert f"_L{case['num_layers']}_" in hash_
    assert ("_idf_" in hash_) == case["idf"]
    assert hash_.endswith(("-custom-rescaled_fast-tokenizer" if case.get("baseline") else "_fast-tokenizer"))


def test_default_model_and_hash() -> None:
    (P, R, F), hash_ = bertscore_rs.score(["a cat sat on the mat"], ["the cat sat on the mat"], return_hash=True)
    assert hash_ == (
        "sentence-transformers/all-MiniLM-L6-v2_L6_no-idf_version=0.3.12(hug_trans=4.46.3)_fast-tokenizer"
    )
    assert 0.8 < float(F[0]) < 1.0


def test_multiple_references_take_the_maximum() -> None:
    cands = ["the weather is cold today", "a dog runs in the park"]
    one_a, one_b = ["it is freezing today", "a dog is running in a park"], ["the weather is cold today", "cats"]
    P_a, R_a, F_a = bertscore_rs.score(cands, one_a, model_type=TINY_BERT, num_layers=2)
    P_b, R_b, F_b = bertscore_rs.score(cands, one_b, model_type=TINY_BERT, num_layers=2)
    P, R, F = bertscore_rs.score(cands, [list(g) for g in zip(one_a, one_b)], model_type=TINY_BERT, num_layers=2)
    np.testing.assert_array_equal(P, np.maximum(P_a, P_b))
    np.testing.assert_array_equal(R, np.maximum(R_a, R_b))
    np.testing.assert_array_equal(F, np.maximum(F_a, F_b))
    assert F[0] == pytest.approx(1.0, abs=1e-6)  # identical to its second reference
