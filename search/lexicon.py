"""The index side of "did you mean": the :class:`search.suggest.Lexicon` of one keyword index.

Built once per generation (``prepare``), read-only afterwards:

* candidate lookup without Whoosh's Python DFA walk (10-20 ms per distance-2 lookup at 100k
  paragraphs): spelling-field words are grouped by first letter with a histogram of their other
  characters (hashed into 32 bins). One edit changes that histogram's L1 distance by at most 2
  (a transposition by 0) and the length by at most 1, so numpy discards most words; survivors
  within rapidfuzz's plain OSA distance get the exact weighted one of ``suggest.edit_cost``.
  A swap of the first two letters is looked up in the second letter's group.
* co-occurrence: paragraphs containing all of some words, as sorted document-number arrays
  intersected with numpy (each word's array is the union of its stems' postings in the text and
  title fields, decoded once by the keyword index and cached there).

It takes the index's reader and two functions from ``keyword.py`` and imports no Whoosh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
from cachetools import LRUCache
from rapidfuzz.distance import OSA

from .suggest import edit_cost

SPELL_FIELD = "spell_text"
_BINS = 32
MAX_CACHED_BYTES = 8 << 20  # words' document arrays kept (most are views of cached postings)


class IndexLexicon:
    """``Lexicon`` over a Whoosh reader: ``fold``/``stems`` are the index's own analysis,
    ``docs(stem)`` gives a stem's sorted document numbers (text or title field)."""

    def __init__(
        self,
        reader,
        fold: Callable[[str], str],
        stems: Callable[[str], list[str]],
        docs: Callable[[str], np.ndarray],
        indexed: Callable[[str], bool] | None = None,
    ) -> None:
        """``indexed(stem)``: whether ``docs(stem)`` would be non-empty, without building it."""
        self._reader = reader
        self._fold = fold
        self._stems = stems
        self._docs = docs
        self._indexed = indexed or (lambda stem: bool(docs(stem).size))
        self._groups: dict[str, tuple[list[str], np.ndarray, np.ndarray]] | None = None
        self._lock = threading.Lock()
        self._cache: LRUCache = LRUCache(MAX_CACHED_BYTES, getsizeof=lambda a: a.nbytes + 64)
        self._n = reader.doc_count()

    def prepare(self) -> None:
        if self._groups is None:
            with self._lock:
                if self._groups is None:
                    self._groups = self._build()

    def _build(self) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        by_first: dict[str, list[str]] = {}
        for b in self._reader.lexicon(SPELL_FIELD):
            w = b.decode("utf-8") if isinstance(b, bytes) else b
            if w:
                by_first.setdefault(w[0], []).append(w)
        groups = {}
        for first, words in by_first.items():
            hist = np.zeros((len(words), _BINS), dtype=np.int16)
            for i, w in enumerate(words):
                for c in w[1:]:
                    hist[i, ord(c) % _BINS] += 1
            lengths = np.fromiter((len(w) for w in words), dtype=np.int32, count=len(words))
            groups[first] = (words, lengths, hist)
        return groups

    # --- the Lexicon protocol -------------------------------------------------------------

    def fold(self, token: str) -> str:
        return self._fold(token)

    def known(self, word: str) -> bool:
        stems = self._stems(word)
        return not stems or all(self._indexed(s) for s in stems)

    def frequency(self, word: str) -> int:
        return self._reader.doc_frequency(SPELL_FIELD, word)

    def near(self, word: str, limit: float) -> list[tuple[str, float]]:
        self.prepare()
        out = dict(self._scan(word[:1], word, limit))
        if len(word) > 1 and word[0] != word[1]:  # "ahve" -> "have": first letters swapped
            swapped = word[1] + word[0] + word[2:]
            for w, _ in self._scan(word[1], swapped, limit - 1.0):
                out.setdefault(w, edit_cost(word, w, limit))
        return [(w, c) for w, c in out.items() if c <= limit]

    def cooccurrence(self, words: Sequence[str]) -> int:
        arrays = [self._word_docs(w) for w in words if self._stems(w)]
        if not arrays:
            return self._n
        arrays.sort(key=len)
        acc = arrays[0]
        for a in arrays[1:]:
            if not acc.size:
                break
            acc = np.intersect1d(acc, a, assume_unique=True)
        return int(acc.size)

    def search_key(self, word: str) -> str:
        return " ".join(self._stems(word))

    # --- helpers ----------------------------------------------------------------------------

    def _scan(self, first: str, word: str, limit: float) -> list[tuple[str, float]]:
        assert self._groups is not None
        group = self._groups.get(first)
        if group is None or limit < 0:
            return []
        words, lengths, hist = group
        h = np.zeros(_BINS, dtype=np.int16)
        for c in word[1:]:
            h[ord(c) % _BINS] += 1
        # At most two plain edits: the length moves by <= 2, the histogram's L1 by <= 4.
        near = (np.abs(lengths - len(word)) <= 2) & (np.abs(hist - h).sum(axis=1) <= 4)
        # Within the bounds above, a weighted cost <= 1.5 needs at most 2 plain OSA edits and
        # <= 2 at most 3 (two half-cost indels and a vowel): rapidfuzz's C distance cuts first.
        cut = 3 if limit >= 1.75 else 2
        out = []
        for i in np.flatnonzero(near).tolist():
            w = words[i]
            if OSA.distance(word, w, score_cutoff=cut) <= cut:
                c = edit_cost(word, w, limit)
                if c <= limit:
                    out.append((w, c))
        return out

    def _word_docs(self, word: str) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(word)
        if hit is not None:
            return hit
        parts = [self._docs(s) for s in self._stems(word)]
        acc = parts[0]
        for p in parts[1:]:  # "de-escalation" is two stems: both must be there
            acc = np.intersect1d(acc, p, assume_unique=True)
        with self._lock:
            try:
                self._cache[word] = acc
            except ValueError:  # larger than the whole budget: not kept
                pass
        return acc
