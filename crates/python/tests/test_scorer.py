"""BERTScorer: one model load for any number of scores, idf set after loading, settings hash; and every error
is a BertScoreError of the right kind."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import numpy as np
import pytest

import bertscore_rs
from bertscore_rs import BERTScorer, BertScoreError
from conftest import FIXTURES, TINY_BERT, TINY_ROBERTA

CANDS = ["the cat sat on the mat", "a quick brown fox", "hello world"]
REFS = ["a cat was sitting on the mat", "the fast brown fox jumps", "hello there world"]


def test_bertscorer_loads_the_model_once() -> None:
    before = bertscore_rs.model_load_count()
    scorer = BERTScorer(model_type=TINY_ROBERTA, num_layers=3)
    assert bertscore_rs.model_load_count() == before + 1
    first = scorer.score(CANDS, REFS)
    second = scorer.score(CANDS[::-1], REFS[::-1])
    assert bertscore_rs.model_load_count() == before + 1
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b[::-1])
    # The function loads a model per call, as bert_score.score does, and gives the same numbers.
    again = bertscore_rs.score(CANDS, REFS, model_type=TINY_ROBERTA, num_layers=3)
    assert bertscore_rs.model_load_count() == before + 2
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_compute_idf_matches_score_idf_without_reloading() -> None:
    scorer = BERTScorer(model_type=TINY_BERT, num_layers=2, idf=True)
    loads = bertscore_rs.model_load_count()
    with pytest.raises(BertScoreError) as error:
        scorer.score(CANDS, REFS)  # bert_score: "IDF weights are not computed"
    assert error.value.kind == "bad_input"
    scorer.compute_idf(REFS)
    with_idf = scorer.score(CANDS, REFS)
    with pytest.warns(UserWarning, match="Overwriting"):
        scorer.compute_idf(REFS)
    assert bertscore_rs.model_load_count() == loads
    expected = bertscore_rs.score(CANDS, REFS, model_type=TINY_BERT, num_layers=2, idf=True)
    for a, b in zip(with_idf, expected):
        np.testing.assert_array_equal(a, b)
    plain = bertscore_rs.score(CANDS, REFS, model_type=TINY_BERT, num_layers=2)
    assert not np.allclose(with_idf[0], plain[0], atol=1e-4)
    assert "_idf_" in scorer.hash and "_no-idf_" in BERTScorer(model_type=TINY_BERT, num_layers=2).hash


def test_document_frequencies_and_weights_give_the_same_idf() -> None:
    scorer = BERTScorer(model_type=TINY_BERT, num_layers=2, idf=True, idf_sents=REFS)
    expected = scorer.score(CANDS, REFS)
    counts, documents = scorer.document_frequencies(REFS)
    assert documents == len(REFS)
    cls_id = scorer.tokenize("x")[0]
    assert counts[cls_id] == len(REFS)  # every document has [CLS]
    # Frequencies split in two parts and added up give the same idf as the whole.
    first, n1 = scorer.document_frequencies(REFS[:1])
    rest, n2 = scorer.document_frequencies(REFS[1:])
    merged = {t: first.get(t, 0) + rest.get(t, 0) for t in set(first) | set(rest)}
    assert merged == counts and n1 + n2 == documents
    other = BERTScorer(model_type=TINY_BERT, num_layers=2, idf=True)
    other.set_document_frequencies(merged, n1 + n2)
    for a, b in zip(other.score(CANDS, REFS), expected):
        np.testing.assert_array_equal(a, b)
    # bert_score's idf_dict form: a defaultdict with ln((M+1)/(df+1)).
    weights = defaultdict(lambda: float(np.log(documents + 1)))
    weights.update({t: float(np.log((documents + 1) / (c + 1))) for t, c in counts.items()})
    for a, b in zip(bertscore_rs.score(CANDS, REFS, model_type=TINY_BERT, num_layers=2, idf=weights), expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_bertscorer_properties() -> None:
    scorer = BERTScorer(model_type=TINY_ROBERTA, num_layers=2, lang="en", batch_size=8)
    assert scorer.model_type == TINY_ROBERTA and scorer.num_layers == 2 and scorer.batch_size == 8
    assert scorer.lang == "en" and not scorer.idf and not scorer.rescale_with_baseline
    assert scorer.hash == f"{TINY_ROBERTA}_L2_no-idf_version=0.3.12(hug_trans=4.46.3)_fast-tokenizer"
    (P, R, F), hash_ = scorer.score(CANDS, REFS, return_hash=True)
    assert hash_ == scorer.hash and P.dtype == np.float32 and len(P) == 3
    assert "BERTScorer(hash=" in repr(scorer)


def test_empty_candidate_warns_and_scores_zero() -> None:
    with pytest.warns(UserWarning, match="Empty candidate"):
        P, R, F = bertscore_rs.score(["", "a cat"], ["a cat", "a cat"], model_type=TINY_BERT, num_layers=2)
    assert F[0] == 0.0 and F[1] == pytest.approx(1.0, abs=1e-6)


def _kind(call) -> str:
    with pytest.raises(BertScoreError) as error:
        call()
    assert str(error.value), "the error says what went wrong"
    return error.value.kind


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: bertscore_rs.score(["a", "b"], ["a"], model_type=TINY_BERT, num_layers=2), "2 candidates"),
        (lambda: bertscore_rs.score("a cat", ["a cat"], model_type=TINY_BERT, num_layers=2), "cands"),
        (lambda: bertscore_rs.score(["a"], [3], model_type=TINY_BERT, num_layers=2), "refs[0]"),
        (lambda: bertscore_rs.score(["a"], [["a", None]], model_type=TINY_BERT, num_layers=2), "refs[0][1]"),
        (lambda: bertscore_rs.score(["a"], [[]], model_type=TINY_BERT, num_layers=2), "reference"),
        (lambda: BERTScorer(model_type=TINY_BERT, num_layers=99), "num_layers 99"),
        (lambda: BERTScorer(model_type=TINY_BERT, num_layers=-1), "num_layers"),
        (lambda: BERTScorer(model_type=TINY_BERT, num_layers=2, batch_size=0), "batch_size"),
        (lambda: BERTScorer(model_type=TINY_BERT, num_layers=2, device="tpu"), "tpu"),
        (lambda: BERTScorer(model_type=TINY_BERT, num_layers=2, rescale_with_baseline=True), "lang"),
        (lambda: BERTScorer(model_type=TINY_BERT), "num_layers"),
        (lambda: BERTScorer(model_type="not a model!"), "not a model!"),
        (
            lambda: BERTScorer(model_type=TINY_BERT, num_layers=2, rescale_with_baseline=True,
                               baseline_path=FIXTURES / "no-such-baseline.tsv"),
            "no-such-baseline.tsv",
        ),
        (lambda: bertscore_rs.compare(["a"], ["b", "c"], ["a"], model_type=TINY_BERT, num_layers=2), "custom"),
        (lambda: bertscore_rs.compare(["a"], ["b"], ["a"], model_type=TINY_BERT, num_layers=2, alpha=2.0), "alpha"),
    ],
)
def test_bad_input_errors(call, fragment: str) -> None:
    with pytest.raises(BertScoreError) as error:
        call()
    assert error.value.kind == "bad_input", str(error.value)
    assert fragment in str(error.value)


def test_model_errors(tmp_path) -> None:
    # A directory with every file but an architecture the engine does not implement.
    broken = tmp_path / "gpt"
    shutil.copytree(TINY_BERT, broken)
    config = json.loads((broken / "config.json").read_text())
    config["model_type"] = "gpt2"
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(BertScoreError) as error:
        BERTScorer(model_type=str(broken), num_layers=1)
    assert error.value.kind == "model" and "gpt2" in str(error.value)
    # A directory without weights.
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(BertScoreError) as error:
        BERTScorer(model_type=str(empty), num_layers=1)
    assert error.value.kind == "model" and "tokenizer.json" in str(error.value)


def test_error_class_is_an_exception_with_a_kind() -> None:
    assert issubclass(BertScoreError, Exception)
    assert BertScoreError.__module__ == "bertscore_rs"


def test_all_layers_gives_every_layer_as_scoring_at_that_layer() -> None:
    refs = [[r, c] for r, c in zip(REFS, CANDS[::-1])]
    P, R, F = bertscore_rs.score(CANDS, refs, model_type=TINY_ROBERTA, num_layers=3, all_layers=True)
    assert P.shape == R.shape == F.shape == (4, len(CANDS)) and P.dtype == np.float32
    for layer in range(4):
        expected = bertscore_rs.score(CANDS, refs, model_type=TINY_ROBERTA, num_layers=layer)
        for got, want in zip((P, R, F), expected):
            np.testing.assert_allclose(got[layer], want, rtol=0, atol=1e-6)
    assert not np.allclose(F[0], F[3], atol=1e-4)


def test_all_layers_rescales_each_layer_with_its_row() -> None:
    baseline = FIXTURES / "baselines" / "tiny-roberta-L3-rescaled-multi-ref.tsv"
    P, R, F = bertscore_rs.score(CANDS, REFS, model_type=TINY_ROBERTA, num_layers=3, all_layers=True,
                                 rescale_with_baseline=True, baseline_path=baseline)
    for layer in range(4):
        expected = bertscore_rs.score(CANDS, REFS, model_type=TINY_ROBERTA, num_layers=layer,
                                      rescale_with_baseline=True, baseline_path=baseline)
        for got, want in zip((P, R, F), expected):
            np.testing.assert_allclose(got[layer], want, rtol=0, atol=1e-6)
