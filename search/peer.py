"""The peer: what a competent user would build in an afternoon, run beside our modes.

``bm25s`` over whole articles (title + body), all-MiniLM-L6-v2 (torch fp32, the reference
model as published) over each article's ~180-word chunks scoring an article by its best chunk,
and reciprocal rank fusion (k=60) of the two article rankings. It reads the articles of an
opened backend, so it ranks exactly our corpus under our ids. ``bm25s`` is a dev/bench
dependency: importing this module without it raises ImportError, which ``newsearch eval``
reports instead of printing the peer.

Chunk embeddings are cached next to the eval index (``<index_dir>/peer-<digest>.npy``), since
embedding a corpus is the slow part.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import bm25s
import numpy as np

from .backends import RetrievalBackend
from .embed import Embedder
from .fusion import rrf

CHUNK_WORDS = 180
RRF_K = 60
PEER_MODES = ("keyword", "semantic", "hybrid")


def chunks(text: str, size: int = CHUNK_WORDS) -> list[str]:
    """Consecutive ``size``-word pieces of ``text`` (at least one, possibly empty)."""
    words = text.split()
    return [" ".join(words[i : i + size]) for i in range(0, max(len(words), 1), size)]


class Peer:
    """bm25s + best-chunk MiniLM + RRF over one generation's live articles."""

    def __init__(self, backend: RetrievalBackend, embedder: Embedder, cache: Path | None = None):
        cat = backend.catalog
        live = np.flatnonzero(cat.alive).tolist()
        self.ids = [cat.ids[r] for r in live]
        body: dict[int, list[str]] = {r: [] for r in live}
        for p in backend.paragraphs(range(backend.stats().rows)):  # row order = reading order
            if p.article in body:
                body[p.article].append(p.text)
        texts = [" ".join(body[r]) for r in live]
        titles = [a.title or "" for a in backend.articles(live)]
        self._bm25 = bm25s.BM25()
        docs = [f"{t} {x}" for t, x in zip(titles, texts, strict=True)]
        self._bm25.index(
            bm25s.tokenize(docs, stopwords="en", show_progress=False), show_progress=False
        )
        pieces, owner = [], []
        for i, x in enumerate(texts):
            for c in chunks(x):
                pieces.append(c)
                owner.append(i)
        self._owner = np.asarray(owner, dtype=np.int64)
        self._embedder = embedder
        digest = hashlib.sha1("\n".join(pieces).encode()).hexdigest()[:12]
        path = (cache / f"peer-{digest}.npy") if cache else None
        if path is not None and path.exists():
            self._vecs = np.load(path, allow_pickle=False)
        else:
            self._vecs = embedder.encode(pieces)
            if path is not None:
                np.save(path, self._vecs)

    def keyword(self, text: str, k: int = 100) -> list[tuple[int, float]]:
        toks = bm25s.tokenize([text], stopwords="en", show_progress=False)
        if not toks.vocab:
            return []
        k = min(k, len(self.ids))
        docs, scores = self._bm25.retrieve(toks, k=k, show_progress=False)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def semantic(self, text: str, k: int = 100) -> list[tuple[int, float]]:
        sims = self._vecs @ self._embedder.encode_query(text)
        best = np.full(len(self.ids), -np.inf, dtype=np.float32)
        np.maximum.at(best, self._owner, sims)
        order = np.argsort(-best, kind="stable")[:k]
        return [(int(i), float(best[i])) for i in order]

    def hybrid(self, text: str, k: int = 100) -> list[tuple[int, float]]:
        fused = rrf([self.keyword(text, k), self.semantic(text, k)], k=RRF_K)
        return sorted(fused.items(), key=lambda x: (-x[1], x[0]))[:k]

    def run(self, queries: dict[str, str], mode: str, k: int = 100) -> dict[str, dict[str, float]]:
        """``{query_id: {article_id: score}}`` (rank-derived scores, like ``evaluate.run``)."""
        rank = getattr(self, mode)
        out = {}
        for qid, text in queries.items():
            hits = rank(text, k)
            out[qid] = {self.ids[i]: float(k - n) for n, (i, _) in enumerate(hits)}
        return out
