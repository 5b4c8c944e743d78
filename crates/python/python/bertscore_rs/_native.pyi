"""Type stubs of the extension module ``bertscore_rs._native`` (Rust, PyO3). Use the ``bertscore_rs`` API;
this module is its engine room."""

from typing import Literal, Optional

__version__: str
DEFAULT_MODEL: str
BERT_SCORE_VERSION: str

class BertScoreError(Exception):
    """An error from bertscore_rs; ``kind`` says whose problem it is: ``"bad_input"`` (texts, options,
    files), ``"model"`` (the model cannot be obtained or loaded) or ``"runtime"`` (anything else)."""

    kind: Literal["bad_input", "model", "runtime"]

def supported_model_types() -> list[str]:
    """The config.json ``model_type`` values the engine runs (``bertscore models`` lists the same)."""

def model_load_count() -> int:
    """How many models this process has loaded through bertscore_rs so far."""

def group_maxima(
    candidate_lengths: list[int], reference_lengths: list[int]
) -> tuple[list[int], list[int]]:
    """Each flattened pair's longest candidate and reference of its group of 64 pairs."""

class Scorer:
    """One loaded model and its settings (behind ``bertscore_rs.BERTScorer``). Thread-safe; the GIL is
    released while it loads, tokenizes and scores."""

    def __init__(
        self,
        model_type: Optional[str] = None,
        num_layers: Optional[int] = None,
        batch_size: int = 64,
        nthreads: Optional[int] = None,
        all_layers: bool = False,
        idf: bool = False,
        idf_sents: Optional[list[str]] = None,
        device: Optional[str] = None,
        lang: Optional[str] = None,
        rescale_with_baseline: bool = False,
        baseline_path: Optional[str] = None,
    ) -> None: ...
    def score(
        self,
        cands: list[str],
        refs: list[list[str]],
        group_maxima: Optional[tuple[list[int], list[int]]] = None,
    ) -> tuple[bytes, bytes, bytes, list[str], Optional[int]]:
        """P, R, F as native-endian float32 bytes, the engine's warnings, and with ``all_layers`` the number
        of layers (the bytes are then layer-major). ``group_maxima``: each flattened pair's padding-group
        maxima over a larger input (``group_maxima``), to score this part as the whole input would be."""
    def token_lengths(self, texts: list[str]) -> list[int]:
        """Each text's length in tokens as scoring counts it."""
    def compute_idf(self, sents: list[str]) -> bool:
        """idf over ``sents``; returns whether earlier weights were replaced."""
    def document_frequencies(self, texts: list[str]) -> tuple[dict[int, int], int]:
        """``({token id: documents containing it}, documents)``."""
    def set_document_frequencies(self, counts: dict[int, int], num_documents: int) -> None: ...
    def set_idf_weights(self, weights: dict[int, float], default: float) -> None: ...
    def tokenize(self, text: str) -> list[int]: ...
    @property
    def hash(self) -> str: ...
    @property
    def model_type(self) -> str: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def idf(self) -> bool: ...
    @property
    def idf_ready(self) -> bool: ...
    @property
    def lang(self) -> Optional[str]: ...
    @property
    def rescale_with_baseline(self) -> bool: ...
    @property
    def baseline_path(self) -> Optional[str]: ...
    @property
    def all_layers(self) -> bool: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def encoder(self) -> str: ...
    @property
    def max_tokens(self) -> int: ...

def compare(
    base: list[str],
    custom: list[str],
    refs: list[list[str]],
    ids: Optional[list[str]] = None,
    prompts: Optional[list[Optional[str]]] = None,
    model_type: Optional[str] = None,
    num_layers: Optional[int] = None,
    idf: bool = False,
    batch_size: int = 64,
    lang: Optional[str] = None,
    rescale_with_baseline: bool = False,
    baseline_path: Optional[str] = None,
    device: Optional[str] = None,
    nthreads: Optional[int] = None,
    bootstrap: int = 10000,
    permutations: int = 10000,
    seed: int = 0,
    margin: float = 0.0,
    alpha: float = 0.05,
) -> str:
    """``bertscore compare --json``'s document."""
