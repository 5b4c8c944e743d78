"""bert_score's padding groups across calls, without Ray: ``token_lengths``, ``group_maxima`` and
``BERTScorer.score_part`` score any split of an input as one ``score`` call over the whole input, on
tiny-deberta-v2 (layer 3), whose best matches are often negative, so that splitting without the groups does
change scores."""

from __future__ import annotations

import numpy as np
import pytest

import bertscore_rs
from bertscore_rs.ray import BERTScoreMapper, PaddingGroups
from conftest import TINY_BERT, TINY_DEBERTA

# DeBERTa runs on candle's padded batches, whose float sums depend on the batch's shape: parts agree with the
# whole to float noise, as the engine's batch-size invariance tests require.
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def deberta() -> bertscore_rs.BERTScorer:
    return bertscore_rs.BERTScorer(model_type=TINY_DEBERTA, num_layers=3)


def _flat_lengths(scorer: bertscore_rs.BERTScorer, cands: list[str], refs: list[list[str]]):
    candidates = scorer.token_lengths(cands)
    references = [scorer.token_lengths(group) for group in refs]
    flat_cands = [c for c, group in zip(candidates, references) for _ in group]
    flat_refs = [r for group in references for r in group]
    return flat_cands, flat_refs


def _parts(n: int) -> list[list[int]]:
    """The rows in a scrambled order, cut into uneven parts (what Ray batches of shuffled blocks hold). Most
    parts are small: on this model only a pair that is the longest of its part (and not of its group of 64 in
    the whole input, or the reverse) can change."""
    order = [(k * 37 + 11) % n for k in range(n)]
    sizes, parts, start = [1, 2, 1, 1, 3, 2, 1, 30, 1, 2, 17], [], 0
    while start < n:
        size = sizes[len(parts) % len(sizes)]
        parts.append(order[start : start + size])
        start += size
    return parts


def _score_in_parts(scorer, cands, refs, maxima=None, scores=None):
    """Scores each part in one call (with the whole input's maxima, or padded as its own input) and puts the
    P, R, F back in input order."""
    starts = np.cumsum([0] + [len(group) for group in refs])
    out = np.zeros((3, len(cands)), dtype=np.float32) if scores is None else scores
    for part in _parts(len(cands)):
        part_cands, part_refs = [cands[i] for i in part], [refs[i] for i in part]
        if maxima is None:
            p, r, f = scorer.score(part_cands, part_refs)
        else:
            pairs = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in part])
            p, r, f = scorer.score_part(part_cands, part_refs, (maxima[0][pairs], maxima[1][pairs]))
        out[:, part] = np.stack([p, r, f])
    return out


def test_token_lengths_count_special_tokens_and_truncation() -> None:
    scorer = bertscore_rs.BERTScorer(model_type=TINY_BERT, num_layers=2)
    long = "word " * 2000
    texts = ["", "a cat sat on the mat", long]
    lengths = scorer.token_lengths(texts)
    assert lengths == [len(scorer.tokenize(t)) for t in texts]
    assert lengths[0] == 2
    assert lengths[2] == scorer._scorer.max_tokens < 2000


def test_group_maxima_are_the_longest_texts_of_each_group_of_64() -> None:
    candidates = [(p % 7) + 3 for p in range(130)]
    references = [100 - p % 64 for p in range(130)]
    longest_c, longest_r = bertscore_rs.group_maxima(candidates, references)
    assert longest_c.tolist() == [9] * 128 + [6] * 2
    assert longest_r.tolist() == [100] * 130
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        bertscore_rs.group_maxima([1, 2], [3])
    assert error.value.kind == "bad_input" and "2 candidate entries but 1 reference entries" in str(error.value)


@pytest.mark.parametrize("idf", [False, True])
def test_parts_with_the_whole_inputs_groups_equal_the_whole(deberta, negative_max, idf) -> None:
    cands, refs = negative_max
    scorer = bertscore_rs.BERTScorer(model_type=TINY_DEBERTA, num_layers=3, idf=idf)
    flat = [r for group in refs for r in group]
    if idf:
        scorer.set_document_frequencies(*scorer.document_frequencies(flat))
    expected = np.stack(bertscore_rs.score(cands, refs, model_type=TINY_DEBERTA, num_layers=3, idf=idf))

    maxima = bertscore_rs.group_maxima(*_flat_lengths(scorer, cands, refs))
    grouped = _score_in_parts(scorer, cands, refs, maxima)
    np.testing.assert_allclose(grouped, expected, rtol=0, atol=TOLERANCE)

    # Padded as inputs of their own, the parts score differently: the groups matter on this model.
    regrouped = _score_in_parts(scorer, cands, refs)
    moved = np.abs(regrouped - expected).max(axis=0) > 1e-4
    assert moved.sum() >= 10, f"only {moved.sum()} candidates moved"


def test_all_layers_part_equals_the_whole(negative_max) -> None:
    cands, refs = negative_max
    scorer = bertscore_rs.BERTScorer(model_type=TINY_DEBERTA, num_layers=3, all_layers=True)
    expected = np.stack(scorer.score(cands, refs))  # (3, layers, candidates)
    maxima = bertscore_rs.group_maxima(*_flat_lengths(scorer, cands, refs))
    starts = np.cumsum([0] + [len(group) for group in refs])
    part = list(range(150, 230))
    pairs = np.arange(starts[150], starts[230])
    got = np.stack(scorer.score_part(cands[150:230], refs[150:230], (maxima[0][pairs], maxima[1][pairs])))
    np.testing.assert_allclose(got, expected[:, :, part], rtol=0, atol=TOLERANCE)


def test_wrong_group_maxima_are_bad_input(deberta, negative_max) -> None:
    cands, refs = negative_max
    cands, refs = cands[:3], refs[:3]  # 4 pairs: the first candidate has two references
    maxima = bertscore_rs.group_maxima(*_flat_lengths(deberta, cands, refs))
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        deberta.score_part(cands, refs, (maxima[0][:3], maxima[1][:3]))
    assert error.value.kind == "bad_input" and "3 entries for 4 flattened pairs" in str(error.value)
    short = maxima[1].copy()
    short[2] = 1
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        deberta.score_part(cands, refs, (maxima[0], short))
    assert error.value.kind == "bad_input" and "flattened pair 2" in str(error.value)
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        deberta.score_part(cands, refs, (maxima[0], [-1, 2, 3, 4]))
    assert error.value.kind == "bad_input" and "token counts are >= 0" in str(error.value)


def test_mapper_finds_each_rows_groups_by_key(deberta, negative_max) -> None:
    """The mapper's lookup without Ray: rows by id, in any order, get their pairs' maxima; unknown ids and
    changed reference counts are named."""
    cands, refs = negative_max
    lengths = _flat_lengths(deberta, cands, refs)
    longest_c, longest_r = bertscore_rs.group_maxima(*lengths)
    ids = np.arange(len(cands)) * 10  # ascending keys; rows flattened in this order
    offsets = np.cumsum([0] + [len(group) for group in refs])
    groups = PaddingGroups("id", ids, offsets, longest_c, longest_r)
    mapper = BERTScoreMapper(padding_groups=groups, model_type=TINY_DEBERTA, num_layers=3)
    rows = [5, 397, 0, 42, 43, 44, 200]
    batch = {
        "id": ids[rows],
        "candidate": np.array([cands[i] for i in rows], dtype=object),
        "references": np.array([refs[i] for i in rows] + [None], dtype=object)[:-1],
    }
    out = mapper(batch)
    expected = np.stack(deberta.score(cands, refs))[:, rows]
    np.testing.assert_allclose(np.stack([out["precision"], out["recall"], out["f1"]]), expected, atol=TOLERANCE)

    with pytest.raises(bertscore_rs.BertScoreError) as error:
        mapper({**batch, "id": batch["id"] + 1})
    assert "row id=51 was not in the dataset" in str(error.value)
    changed = dict(batch, references=np.array([["a"]] * len(rows) + [None], dtype=object)[:-1])
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        mapper(changed)
    assert "row id=0 has 1 references but had 2" in str(error.value)
    with pytest.raises(bertscore_rs.BertScoreError) as error:
        mapper({k: v for k, v in batch.items() if k != "id"})
    assert error.value.kind == "bad_input" and "no 'id' column" in str(error.value)
