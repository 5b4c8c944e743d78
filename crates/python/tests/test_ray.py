"""bertscore_rs.ray on a local Ray instance (2 CPUs, 2 actors, 2,000 pairs): every pair's P, R, F equal
single-process scoring (to 1e-6), with and without idf, matched by id; idf comes from document frequencies
aggregated over the whole dataset, and bert_score's padding groups from token lengths counted over the whole
dataset in id order (on tiny-deberta-v2, whose negative best matches make the groups matter)."""

from __future__ import annotations

import numpy as np
import pytest
import ray

import bertscore_rs
from bertscore_rs.ray import BERTScoreMapper, document_frequencies, padding_groups, score_dataset
from conftest import TINY_DEBERTA

PAIRS = 2000


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()


def _by_id(rows: list[dict]) -> dict[int, tuple[float, float, float]]:
    scores = {int(row["id"]): (row["precision"], row["recall"], row["f1"]) for row in rows}
    assert len(scores) == len(rows), "every id once"
    return scores


def _check(rows: list[dict], expected: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    got = _by_id(rows)
    assert sorted(got) == list(range(PAIRS))
    table = np.array([got[i] for i in range(PAIRS)], dtype=np.float64)
    np.testing.assert_allclose(table, np.stack(expected, axis=1).astype(np.float64), rtol=0, atol=1e-6)


def test_ray_without_idf_equals_single_process(local_ray, wmt_pairs) -> None:
    hyps, refs = (texts[:PAIRS] for texts in wmt_pairs)
    rows = [{"id": i, "candidate": h, "reference": r} for i, (h, r) in enumerate(zip(hyps, refs))]
    ds = ray.data.from_items(rows, override_num_blocks=8)
    scored = score_dataset(ds, concurrency=2, batch_rows=250).take_all()
    assert {"id", "candidate", "reference", "precision", "recall", "f1"} <= set(scored[0])
    _check(scored, bertscore_rs.score(hyps, refs))


def test_ray_with_idf_equals_single_process(local_ray, wmt_pairs) -> None:
    hyps, refs = (texts[:PAIRS] for texts in wmt_pairs)
    # One or two references per candidate (the second: another row's reference), in a `references` column.
    groups = [[r] if i % 3 else [r, refs[(i * 7 + 1) % PAIRS]] for i, r in enumerate(refs)]
    rows = [{"id": i, "candidate": h, "references": g} for i, (h, g) in enumerate(zip(hyps, groups))]
    ds = ray.data.from_items(rows, override_num_blocks=8)

    # The aggregated document frequencies are the whole corpus's.
    counts, documents = document_frequencies(ds, concurrency=2, batch_rows=250)
    flat = [r for g in groups for r in g]
    assert documents == len(flat)
    assert counts == bertscore_rs.BERTScorer().document_frequencies(flat)[0]

    scored = score_dataset(ds, concurrency=2, batch_rows=250, idf=True).take_all()
    expected = bertscore_rs.score(hyps, groups, idf=True)
    _check(scored, expected)
    plain = bertscore_rs.score(hyps, groups)
    assert not np.allclose(plain[2], expected[2], atol=1e-4), "idf changes the scores"


def _table(rows: list[dict], n: int) -> np.ndarray:
    """P, R, F of rows with ids 0..n-1, as a (3, n) array in id order."""
    got = {int(row["id"]): (row["precision"], row["recall"], row["f1"]) for row in rows}
    assert sorted(got) == list(range(n)), "every id once"
    return np.array([got[i] for i in range(n)], dtype=np.float64).T


@pytest.mark.parametrize("idf", [False, True])
def test_ray_pads_as_one_call_over_the_rows_in_id_order(local_ray, negative_max, idf) -> None:
    """400 rows (one or two references each) listed in a scrambled order, in batches of 2 rows: the scores
    equal one score() call over the rows in id order. Padding each batch as its own input (order_by=None)
    changes many of them on this model, so the groups are what makes them equal."""
    cands, refs = negative_max
    n = len(cands)
    options = {"model_type": TINY_DEBERTA, "num_layers": 3, "idf": idf}
    rows = [{"id": i, "candidate": cands[i], "references": refs[i]} for i in ((k * 37 + 11) % n for k in range(n))]
    ds = ray.data.from_items(rows, override_num_blocks=8)
    expected = np.stack(bertscore_rs.score(cands, refs, **options)).astype(np.float64)

    scored = _table(score_dataset(ds, concurrency=2, batch_rows=2, **options).take_all(), n)
    np.testing.assert_allclose(scored, expected, rtol=0, atol=1e-6)

    regrouped = _table(score_dataset(ds, order_by=None, concurrency=2, batch_rows=2, **options).take_all(), n)
    moved = int((np.abs(regrouped - expected).max(axis=0) > 1e-4).sum())
    assert moved >= 10, f"padding each batch alone moved only {moved} rows"


def test_padding_groups_need_unique_ordered_keys(local_ray, negative_max) -> None:
    cands, refs = negative_max
    options = {"model_type": TINY_DEBERTA, "num_layers": 3}
    rows = [{"key": f"row-{i:03}", "candidate": cands[i], "references": refs[i]} for i in range(100)]
    groups = padding_groups(ray.data.from_items(rows, override_num_blocks=4), order_by="key", **options)
    assert groups.keys.tolist() == [f"row-{i:03}" for i in range(100)]
    scorer = bertscore_rs.BERTScorer(**options)
    flat_c = [length for c, g in zip(scorer.token_lengths(cands[:100]), refs[:100]) for length in [c] * len(g)]
    flat_r = [length for g in refs[:100] for length in scorer.token_lengths(g)]
    longest_c, longest_r = bertscore_rs.group_maxima(flat_c, flat_r)
    assert groups.candidate.tolist() == longest_c.tolist() and groups.reference.tolist() == longest_r.tolist()

    with pytest.raises(bertscore_rs.BertScoreError) as error:
        score_dataset(ray.data.from_items(rows), **options)
    assert error.value.kind == "bad_input" and "no 'id' column" in str(error.value)
    twice = rows + [dict(rows[7])]
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        padding_groups(ray.data.from_items(twice), order_by="key", **options)
    assert "holds 'row-007' more than once" in str(error.value)


def test_mapper_refuses_idf_without_the_dataset_frequencies() -> None:
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        BERTScoreMapper(idf=True)
    assert error.value.kind == "bad_input" and "document_frequencies" in str(error.value)


def test_mapper_names_a_missing_column() -> None:
    mapper = BERTScoreMapper()
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        mapper({"candidate": np.array(["a"]), "text": np.array(["b"])})
    assert error.value.kind == "bad_input" and "reference" in str(error.value)


def test_mapper_with_all_layers_gives_a_vector_per_row() -> None:
    from conftest import TINY_ROBERTA

    cands, refs = ["a cat sat", "dogs run fast", "hello"], ["the cat sat", "a dog runs", "hello there"]
    mapper = BERTScoreMapper(model_type=TINY_ROBERTA, num_layers=2, all_layers=True)
    out = mapper({"id": np.arange(3), "candidate": np.array(cands), "reference": np.array(refs)})
    assert out["f1"].shape == (3, 3)
    expected = bertscore_rs.score(cands, refs, model_type=TINY_ROBERTA, num_layers=2, all_layers=True)[2]
    np.testing.assert_array_equal(out["f1"], expected.T)
