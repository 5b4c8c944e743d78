"""BERTScore over a Ray dataset: the engine runs inside Ray Data's actors, one model per actor.

Two ways in:

- :func:`score_dataset` adds ``precision``, ``recall`` and ``f1`` columns to a dataset with a ``candidate``
  column and a ``reference`` (one str) or ``references`` (a list of str) column::

      import ray, bertscore_rs.ray
      ds = ray.data.from_items([{"id": 0, "candidate": "a cat sat", "reference": "the cat sat"}])
      scored = bertscore_rs.ray.score_dataset(ds, concurrency=2, idf=True)

- :class:`BERTScoreMapper`, the callable class behind it, for pipelines of one's own::

      ds.map_batches(BERTScoreMapper, fn_constructor_kwargs={"model_type": ...},
                     compute=ray.data.ActorPoolStrategy(size=2), batch_format="numpy")

idf over a distributed dataset: with ``idf=True``, :func:`score_dataset` first computes the document
frequencies of all references as a Ray aggregation (each block's counts, then a ``groupby("token_id").sum()``),
and hands the table to every scoring actor; each reference of each row is one document, as in
``bertscore_rs.score(cands, refs, idf=True)``, so the scores equal single-process scoring whatever the
partitioning. Ray Data does not keep row order across actors unless asked
(``DataContext.execution_options.preserve_order``): keep an id column to join results back.

One exception to the equality: bert_score pads each group of 64 consecutive pairs to its longest texts, and a
padded position counts as similarity 0, so a token whose best match has a *negative* cosine similarity is
raised to 0 depending on the other pairs of its group (the engine reproduces this, see the engine's
``matching`` module). Ray batches group pairs differently, so such tokens can score differently than in one
``score`` call over the whole list. Real checkpoints rarely have negative best matches (on bert_score's WMT16
example with all-MiniLM-L6-v2, regrouping the pairs changes no score); small random-weight models do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

from . import BERTScorer, _bad_input

__all__ = ["BERTScoreMapper", "document_frequencies", "score_dataset"]

#: The token id under which the per-block document count travels through the aggregation.
_DOCUMENTS = -1


def _reference_groups(batch: Mapping[str, Any]) -> list[list[str]]:
    """The ``references`` (lists of str) or ``reference`` (str) column of a numpy batch."""
    if "references" in batch:
        column, name = batch["references"], "references"
    elif "reference" in batch:
        column, name = batch["reference"], "reference"
    else:
        raise _bad_input(
            f"the dataset has no reference column: expected 'reference' (str) or 'references' (list of str), "
            f"found {sorted(batch)}"
        )
    groups = []
    for i, value in enumerate(column):
        if isinstance(value, str):
            groups.append([str(value)])
        elif isinstance(value, (list, tuple, np.ndarray)):
            group = list(value)
            for text in group:
                if not isinstance(text, str):
                    raise _bad_input(f"{name} row {i} holds a {type(text).__name__}; expected str")
            groups.append([str(text) for text in group])
        else:
            raise _bad_input(f"{name} row {i} is {type(value).__name__}; expected str or a list of str")
    return groups


def _candidates(batch: Mapping[str, Any]) -> list[str]:
    if "candidate" not in batch:
        raise _bad_input(f"the dataset has no 'candidate' column (found {sorted(batch)})")
    texts = []
    for i, value in enumerate(batch["candidate"]):
        if not isinstance(value, str):
            raise _bad_input(f"candidate row {i} is {type(value).__name__}; expected str")
        texts.append(str(value))
    return texts


class BERTScoreMapper:
    """A callable class for ``Dataset.map_batches`` (``batch_format="numpy"``): loads the model once per actor
    and adds ``precision``, ``recall`` and ``f1`` (float32; with ``all_layers=True`` a vector per row, index =
    layer) to each batch, keeping every other column.

    Args:
        document_frequencies: ``(counts, num_documents)`` as :func:`document_frequencies` returns; required
            with ``idf=True`` (idf must come from the whole dataset, not from each batch).
        **options: :class:`bertscore_rs.BERTScorer`'s arguments (``model_type``, ``num_layers``, ``idf``,
            ``lang``, ``rescale_with_baseline``, ``baseline_path``, ``batch_size``, ``nthreads``, ...).
    """

    def __init__(
        self,
        document_frequencies: Optional[tuple[Mapping[int, int], int]] = None,
        **options: Any,
    ) -> None:
        self.scorer = BERTScorer(**options)
        if document_frequencies is not None:
            counts, num_documents = document_frequencies
            self.scorer.set_document_frequencies(counts, num_documents)
        elif self.scorer.idf:
            raise _bad_input(
                "idf=True needs the document frequencies of the whole dataset (document_frequencies=...); "
                "score_dataset(ds, idf=True) computes them first"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        scores = self.scorer.score(_candidates(batch), _reference_groups(batch))
        # With all_layers, (layers, rows) → one vector of every layer's score per row.
        precision, recall, f1 = (s.T.copy() if s.ndim == 2 else s for s in scores)
        out = dict(batch)
        out["precision"] = precision
        out["recall"] = recall
        out["f1"] = f1
        return out


class _DocumentFrequencyCounter:
    """Per block: one row per token id with the number of references containing it, plus the block's
    number of references under token id -1."""

    def __init__(self, **options: Any) -> None:
        self.scorer = BERTScorer(**options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        references = [text for group in _reference_groups(batch) for text in group]
        counts, documents = self.scorer.document_frequencies(references)
        ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        return {
            "token_id": np.append(ids, np.int64(_DOCUMENTS)),
            "documents": np.append(values, np.int64(documents)),
        }


def _actors(concurrency: int) -> Any:
    import ray.data

    return ray.data.ActorPoolStrategy(size=concurrency)


def document_frequencies(
    ds: Any,
    *,
    concurrency: int = 2,
    num_cpus: float = 1,
    batch_rows: int = 1024,
    **options: Any,
) -> tuple[dict[int, int], int]:
    """Document frequencies of every reference in ``ds`` (each reference of each row one document), counted
    per block by ``concurrency`` actors and summed with a Ray ``groupby``: ``({token id: documents containing
    it}, number of documents)``. ``options`` choose the model (its tokenizer) as for :class:`BERTScorer`."""
    options = {k: v for k, v in options.items() if k not in ("idf", "idf_sents")}
    options.setdefault("nthreads", max(1, int(num_cpus)))
    partial = ds.map_batches(
        _DocumentFrequencyCounter,
        fn_constructor_kwargs=options,
        compute=_actors(concurrency),
        num_cpus=num_cpus,
        batch_size=batch_rows,
        batch_format="numpy",
    )
    totals = partial.groupby("token_id").sum("documents")
    counts: dict[int, int] = {}
    for row in totals.iter_rows():
        counts[int(row["token_id"])] = int(row["sum(documents)"])
    num_documents = counts.pop(_DOCUMENTS, 0)
    return counts, num_documents


def score_dataset(
    ds: Any,
    *,
    concurrency: int = 2,
    num_cpus: float = 1,
    batch_rows: int = 1024,
    **options: Any,
) -> Any:
    """Adds ``precision``, ``recall`` and ``f1`` columns to ``ds`` (lazily, as Ray Data does).

    Args:
        ds: a ``ray.data.Dataset`` with ``candidate`` and ``reference`` or ``references`` columns.
        concurrency: scoring actors (each loads the model once).
        num_cpus: CPUs per actor; also the engine's threads per actor unless ``nthreads`` is given.
        batch_rows: rows per ``map_batches`` batch.
        **options: :class:`bertscore_rs.BERTScorer`'s arguments. With ``idf=True`` the document frequencies
            of all references are computed first (:func:`document_frequencies`), so the scores equal
            ``bertscore_rs.score(cands, refs, idf=True)`` on the whole dataset.
    """
    options = dict(options)
    options.setdefault("nthreads", max(1, int(num_cpus)))
    constructor: dict[str, Any] = dict(options)
    if options.get("idf"):
        constructor["document_frequencies"] = document_frequencies(
            ds, concurrency=concurrency, num_cpus=num_cpus, batch_rows=batch_rows, **options
        )
    return ds.map_batches(
        BERTScoreMapper,
        fn_constructor_kwargs=constructor,
        compute=_actors(concurrency),
        num_cpus=num_cpus,
        batch_size=batch_rows,
        batch_format="numpy",
    )
