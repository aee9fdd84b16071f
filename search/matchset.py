"""Which articles match a query, per mode: pure functions over per-article arrays.

Every result the engine shows belongs to the query's match set, and ``total``, facets, the
month chart, date sort and recency are computed over the whole set (issue #12):

* **keyword**: articles holding at least ``min_should_match(n)`` of the query's ``n`` clauses
  (all of them for one or two, a fraction of longer queries; any one when the query says
  ``OR``), every explicit constraint (a quoted phrase, a ``title:`` word), and no excluded
  word anywhere.
* **semantic**: articles whose best paragraph's cosine to the query is at least the model's
  ``floor`` and within ``delta`` of the best article's (a floor plus a cut relative to the best
  hit). The two numbers are calibrated per model and backend and recorded with the index
  (``Calibration``); explicit constraints and exclusions apply here too.
* **hybrid**: the semantic set (its articles holding at least one query word, unless no article
  holds any), the keyword matches holding every word of the query, and the
  keyword matches holding enough of them whose cosine clears the looser ``hybrid_floor`` (an
  article the words match and the meaning does not contradict). When the
  keyword set is not empty and this leaves nothing, the keyword set is the answer: a query the
  keyword mode answers never gets an empty hybrid answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """Semantic match-set thresholds for one model + embedding backend (cosines)."""

    floor: float  # nothing below this is a semantic match
    delta: float  # nothing further than this below the best article
    hybrid_floor: float  # keyword matches join the hybrid set from this cosine up
    source: str = "default"  # where the numbers come from (bench/matchset.py run)

    def to_dict(self) -> dict[str, float]:
        """The numbers as recorded in an index's manifest (``match_set``)."""
        return {"floor": self.floor, "delta": self.delta, "hybrid_floor": self.hybrid_floor}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(float(d["floor"]), float(d["delta"]), float(d["hybrid_floor"]), "index")


def min_should_match(clauses: int, fraction: float, all_upto: int = 2) -> int:
    """Clauses an article must match: all of up to ``all_upto``; else ``fraction`` of them
    rounded down (Elasticsearch's ``"2<75%"`` style), never fewer than ``all_upto``."""
    if clauses <= all_upto:
        return clauses
    return max(all_upto, 1, math.floor(fraction * clauses + 1e-9))


def keyword_set(
    matched: np.ndarray, clauses: int, allowed: np.ndarray, fraction: float, all_upto: int = 2
) -> np.ndarray:
    """Bool per article: enough clauses matched, and ``allowed`` (filters, constraints)."""
    if clauses == 0:
        return np.zeros(len(allowed), dtype=bool)
    need = min_should_match(clauses, fraction, all_upto)
    return (matched >= need) & allowed


def semantic_set(best: np.ndarray, cal: Calibration) -> np.ndarray:
    """Bool per article: ``best`` (−inf where not allowed) clears the floor and the cut."""
    if not len(best):
        return np.zeros(0, dtype=bool)
    top = float(best.max())
    if not np.isfinite(top) or top < cal.floor:
        return np.zeros(len(best), dtype=bool)
    return best >= max(cal.floor, top - cal.delta)


def hybrid_set(
    keyword: np.ndarray,
    semantic: np.ndarray,
    best: np.ndarray,
    cal: Calibration,
    complete: np.ndarray | None = None,
    shares_word: np.ndarray | None = None,
) -> np.ndarray:
    """Bool per article: the semantic set (only articles holding a query word, when any
    article does: ``shares_word``), the keyword matches holding every clause (``complete``),
    and the other keyword matches with ``best ≥ hybrid_floor``; the keyword set alone when
    that would be empty while keyword matched something."""
    if shares_word is not None and shares_word.any():
        semantic = semantic & shares_word
    out = semantic | (keyword & (best >= cal.hybrid_floor))
    if complete is not None:
        out |= keyword & complete
    if not out.any() and keyword.any():
        return keyword.copy()
    return out


# Measured by ``bench/matchset.py`` (TIME dev judgments, the Reuters sample's topics, 100
# nonsense queries); see README "How the match set is decided". Keyed by (model, backend).
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CALIBRATIONS: dict[tuple[str, str], Calibration] = {
    (MINILM, "torch"): Calibration(0.43, 0.30, 0.30, "bench/matchset.py"),
}
CALIBRATIONS[(MINILM, "openvino")] = CALIBRATIONS[(MINILM, "torch")]
CALIBRATIONS[(MINILM, "openvino-int8")] = CALIBRATIONS[(MINILM, "torch")]
# Another model has other cosines: until it is calibrated, only near-certain matches count.
UNCALIBRATED = Calibration(0.5, 0.2, 0.3, "uncalibrated")


def calibration_for(model: str, backend: str) -> Calibration:
    """The thresholds to record with an index of ``model`` embedded by ``backend``."""
    return CALIBRATIONS.get((model, backend), UNCALIBRATED)
