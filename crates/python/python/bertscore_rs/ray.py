"""BERTScore over a Ray dataset: the engine runs inside Ray Data's actors, one model per actor.

Two ways in:

- :func:`score_dataset` adds ``precision``, ``recall`` and ``f1`` columns to a dataset with a ``candidate``
  column and a ``reference`` (one str) or ``references`` (a list of str) column::

      import ray, bertscore_rs.ray
      ds = ray.data.from_items([{"id": 0, "candidate": "a cat sat", "reference": "the cat sat"}])
      scored = bertscore_rs.ray.score_dataset(ds, concurrency=2, idf=True)

- :class:`BERTScoreMapper`, the callable class behind it, for pipelines of one's own::

      groups = bertscore_rs.ray.padding_groups(ds, order_by="id", model_type=...)
      ds.map_batches(BERTScoreMapper, fn_constructor_kwargs={"model_type": ..., "padding_groups": groups},
                     compute=ray.data.ActorPoolStrategy(size=2), batch_format="numpy")

The scores equal one single-process ``bertscore_rs.score(cands, refs, ...)`` call over the rows in the order
of the ``order_by`` column (default ``"id"``), whatever the partitioning, the batches or the actors:

- idf: with ``idf=True``, :func:`score_dataset` first computes the document frequencies of all references as a
  Ray aggregation (each block's counts, then a ``groupby("token_id").sum()``) and hands the table to every
  scoring actor; each reference of each row is one document, as in ``bertscore_rs.score(cands, refs,
  idf=True)``.
- padding: bert_score pads each group of 64 consecutive (candidate, reference) pairs to the group's longest
  texts, and a padded position counts as similarity 0, so a token whose best match has a *negative* cosine
  similarity is raised to 0 depending on the other pairs of its group (the engine reproduces this, see the
  engine's ``matching`` module). Ray batches hold other pairs, so :func:`score_dataset` first counts every
  text's tokens (a ``map_batches`` pass keyed by ``order_by``), computes each pair's group over the whole
  dataset in ``order_by`` order (:func:`padding_groups`, flattened as bert_score flattens several references
  per candidate), and gives every actor the table: each batch is then scored with its pairs' groups
  (:meth:`bertscore_rs.BERTScorer.score_part`). Real checkpoints rarely have negative best matches; small
  random-weight models often do. ``order_by=None`` skips the pass and pads each batch as an input of its own.

Ray Data does not keep row order across actors unless asked (``DataContext.execution_options.preserve_order``),
and does not guarantee it at all without a key: the ``order_by`` column (unique values, all numbers or all
strings) both defines the order the scores refer to and joins results back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import BERTScorer, _bad_input, group_maxima

__all__ = ["BERTScoreMapper", "PaddingGroups", "document_frequencies", "padding_groups", "score_dataset"]

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


def _no_order_column(order_by: str, columns: list[str]) -> Exception:
    return _bad_input(
        f"the dataset has no {order_by!r} column (found {sorted(columns)}), which orders the rows for "
        f"bert_score's padding groups: name a column of unique values (order_by=...), or order_by=None to "
        f"pad each batch as an input of its own"
    )


def _keys(batch: Mapping[str, Any], order_by: str) -> np.ndarray:
    """The ``order_by`` column of a numpy batch, strings as Python objects (never fixed-width)."""
    if order_by not in batch:
        raise _no_order_column(order_by, list(batch))
    keys = np.asarray(batch[order_by])
    if keys.dtype.kind in "UOS":
        keys = keys.astype(object)
    elif keys.dtype.kind not in "iuf":
        raise _bad_input(f"the {order_by!r} column holds {keys.dtype} values; expected numbers or strings")
    elif keys.dtype.kind == "f" and np.isnan(keys).any():
        raise _bad_input(f"the {order_by!r} column holds NaN, which has no place in an order")
    return keys


def _shown(value: Any) -> Any:
    """A key as the user wrote it (a numpy scalar as its Python value)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class PaddingGroups:
    """Every pair's padding group over a whole dataset (:func:`padding_groups`), for
    :class:`BERTScoreMapper`: the rows' ``order_by`` values in ascending order, and for the row at sorted
    position ``k`` its pairs (one per reference) ``offsets[k]:offsets[k + 1]`` in ``candidate`` and
    ``reference``, the longest candidate and reference (in tokens) of each pair's group of 64."""

    order_by: str
    keys: np.ndarray
    offsets: np.ndarray
    candidate: np.ndarray
    reference: np.ndarray

    def of_rows(self, keys: np.ndarray, references: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The maxima of the pairs of the rows with these ``order_by`` values, each with ``references[i]``
        references, flattened in the rows' order: what :meth:`bertscore_rs.BERTScorer.score_part` takes."""
        positions = np.searchsorted(self.keys, keys)
        found = positions < len(self.keys)
        found[found] = self.keys[positions[found]] == keys[found]
        if not found.all():
            missing = keys[~found][0]
            raise _bad_input(
                f"row {self.order_by}={_shown(missing)!r} was not in the dataset when its padding groups were "
                f"computed: compute them (padding_groups) over the dataset being scored"
            )
        starts, ends = self.offsets[positions], self.offsets[positions + 1]
        counted = ends - starts
        differs = counted != np.asarray(references)
        if differs.any():
            i = int(np.flatnonzero(differs)[0])
            raise _bad_input(
                f"row {self.order_by}={_shown(keys[i])!r} has {references[i]} references but had {counted[i]} "
                f"when its padding groups were computed"
            )
        pairs = [np.arange(start, end) for start, end in zip(starts, ends)]
        flat = np.concatenate(pairs) if pairs else np.array([], dtype=np.int64)
        return self.candidate[flat], self.reference[flat]


class _TokenLengthCounter:
    """Per row, one output row per reference: the row's ``order_by`` value, the reference's index in the row,
    and the candidate's and the reference's token counts."""

    def __init__(self, order_by: str, **options: Any) -> None:
        self.order_by = order_by
        self.scorer = BERTScorer(**options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = _keys(batch, self.order_by)
        candidates = self.scorer.token_lengths(_candidates(batch))
        groups = _reference_groups(batch)
        counts = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
        references = self.scorer.token_lengths([text for group in groups for text in group])
        return {
            "key": np.repeat(keys, counts),
            "reference_index": np.concatenate([np.arange(n) for n in counts]) if len(counts) else counts,
            "candidate_tokens": np.repeat(np.asarray(candidates, dtype=np.int64), counts),
            "reference_tokens": np.asarray(references, dtype=np.int64),
        }


class BERTScoreMapper:
    """A callable class for ``Dataset.map_batches`` (``batch_format="numpy"``): loads the model once per actor
    and adds ``precision``, ``recall`` and ``f1`` (float32; with ``all_layers=True`` a vector per row, index =
    layer) to each batch, keeping every other column.

    Args:
        document_frequencies: ``(counts, num_documents)`` as :func:`document_frequencies` returns; required
            with ``idf=True`` (idf must come from the whole dataset, not from each batch).
        padding_groups: :func:`padding_groups` of the whole dataset (or a Ray object reference to it): each
            batch is then scored with its pairs' padding groups over the whole dataset, found by the
            ``order_by`` column. ``None``: each batch is padded as an input of its own.
        **options: :class:`bertscore_rs.BERTScorer`'s arguments (``model_type``, ``num_layers``, ``idf``,
            ``lang``, ``rescale_with_baseline``, ``baseline_path``, ``batch_size``, ``nthreads``, ...).
    """

    def __init__(
        self,
        document_frequencies: Optional[tuple[Mapping[int, int], int]] = None,
        padding_groups: Optional[Any] = None,
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
        if padding_groups is not None and not isinstance(padding_groups, PaddingGroups):
            import ray

            padding_groups = ray.get(padding_groups)
        self.padding_groups: Optional[PaddingGroups] = padding_groups

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        candidates, references = _candidates(batch), _reference_groups(batch)
        if self.padding_groups is None:
            scores = self.scorer.score(candidates, references)
        else:
            keys = _keys(batch, self.padding_groups.order_by)
            maxima = self.padding_groups.of_rows(keys, [len(group) for group in references])
            scores = self.scorer.score_part(candidates, references, maxima)
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


def padding_groups(
    ds: Any,
    *,
    order_by: str = "id",
    concurrency: int = 2,
    num_cpus: float = 1,
    batch_rows: int = 1024,
    **options: Any,
) -> PaddingGroups:
    """Every pair's bert_score padding group over the whole of ``ds``, the rows taken in ascending order of
    their ``order_by`` values (unique; all numbers or all strings) and flattened as bert_score flattens them
    (for each row, one pair per reference): the token counts of every text are computed by ``concurrency``
    actors (``map_batches``), then each pair's group of 64 is found on the driver, which holds four integers
    per pair. ``options`` choose the model (its tokenizer and length) as for :class:`BERTScorer`."""
    options = {k: v for k, v in options.items() if k not in ("idf", "idf_sents", "all_layers")}
    options.setdefault("nthreads", max(1, int(num_cpus)))
    columns = _columns(ds)
    if columns is not None and order_by not in columns:
        raise _no_order_column(order_by, columns)
    lengths = ds.map_batches(
        _TokenLengthCounter,
        fn_constructor_kwargs={"order_by": order_by, **options},
        compute=_actors(concurrency),
        num_cpus=num_cpus,
        batch_size=batch_rows,
        batch_format="numpy",
    )
    parts: dict[str, list[np.ndarray]] = {
        "key": [],
        "reference_index": [],
        "candidate_tokens": [],
        "reference_tokens": [],
    }
    for batch in lengths.iter_batches(batch_size=None, batch_format="numpy"):
        for name, column in parts.items():
            values = np.asarray(batch[name])
            column.append(values.astype(object) if values.dtype.kind in "UOS" else values)
    if not parts["key"]:
        empty = np.array([], dtype=np.int64)
        return PaddingGroups(order_by, empty, np.zeros(1, dtype=np.int64), empty, empty)
    keys, index, candidate_tokens, reference_tokens = (np.concatenate(parts[name]) for name in parts)
    # A row's pairs are consecutive in its batch's output, in reference order: a stable sort by key keeps them
    # so, and duplicate keys are caught below.
    try:
        order = np.argsort(keys, kind="stable")
    except TypeError as error:
        raise _bad_input(f"the {order_by!r} column mixes values that cannot be ordered: {error}") from None
    keys, index = keys[order], index[order]
    starts = np.flatnonzero(index == 0)
    row_keys = keys[starts]
    repeated = np.flatnonzero(row_keys[1:] == row_keys[:-1])
    if repeated.size:
        raise _bad_input(
            f"the {order_by!r} column holds {_shown(row_keys[repeated[0]])!r} more than once: its values must be "
            f"unique to order the rows"
        )
    longest_candidates, longest_references = group_maxima(candidate_tokens[order], reference_tokens[order])
    return PaddingGroups(
        order_by=order_by,
        keys=row_keys,
        offsets=np.append(starts, len(keys)).astype(np.int64),
        candidate=longest_candidates,
        reference=longest_references,
    )


def _columns(ds: Any) -> Optional[list[str]]:
    """The dataset's column names, when its schema is known without running it."""
    schema = ds.schema(fetch_if_missing=False)
    return None if schema is None else list(schema.names)


def score_dataset(
    ds: Any,
    *,
    order_by: Optional[str] = "id",
    concurrency: int = 2,
    num_cpus: float = 1,
    batch_rows: int = 1024,
    **options: Any,
) -> Any:
    """Adds ``precision``, ``recall`` and ``f1`` columns to ``ds`` (lazily, as Ray Data does), equal to one
    ``bertscore_rs.score(cands, refs, **options)`` call over the rows sorted by ``order_by``.

    Args:
        ds: a ``ray.data.Dataset`` with ``candidate`` and ``reference`` or ``references`` columns.
        order_by: a column of unique values (numbers or strings) ordering the rows: each pair is padded with
            its group of 64 in that order (:func:`padding_groups`, computed first, one tokenizing pass).
            ``None``: no pass; each batch is padded as an input of its own, which changes the scores of tokens
            whose best match is negative (see the module's docs).
        concurrency: scoring actors (each loads the model once).
        num_cpus: CPUs per actor; also the engine's threads per actor unless ``nthreads`` is given.
        batch_rows: rows per ``map_batches`` batch.
        **options: :class:`bertscore_rs.BERTScorer`'s arguments. With ``idf=True`` the document frequencies
            of all references are computed first (:func:`document_frequencies`), so idf is the whole
            dataset's.
    """
    options = dict(options)
    options.setdefault("nthreads", max(1, int(num_cpus)))
    constructor: dict[str, Any] = dict(options)
    passes = {"concurrency": concurrency, "num_cpus": num_cpus, "batch_rows": batch_rows}
    if order_by is not None:
        import ray

        groups = padding_groups(ds, order_by=order_by, **passes, **options)
        constructor["padding_groups"] = ray.put(groups)
    if options.get("idf"):
        constructor["document_frequencies"] = document_frequencies(ds, **passes, **options)
    return ds.map_batches(
        BERTScoreMapper,
        fn_constructor_kwargs=constructor,
        compute=_actors(concurrency),
        num_cpus=num_cpus,
        batch_size=batch_rows,
        batch_format="numpy",
    )
