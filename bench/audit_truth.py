"""The match-set rules of README "How the match set is decided", re-implemented from the
stored paragraphs, for ``bench/audit.py``.

Nothing here asks the engine which articles match: the index's own files (articles,
paragraphs, fp32 vectors, near-duplicate groups, the manifest's calibration) are read, every
article's title and paragraphs go through the keyword analyzer (the analysis the README says
queries and text share), and a query *as generated* (its words, phrases, title words,
exclusions, OR, filters: ``Case``) is decided by the stated rules. The query vector is the
engine's embedder's (the model is not what is audited).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from search.keyword import ANALYZER


def terms(text: str) -> list[str]:
    """The analyzed terms of ``text``, in order (stop words dropped, positions renumbered)."""
    return [t.text for t in ANALYZER(text or "")]


@dataclass
class Case:
    """A generated query and what it means (the truth the engine's answer is checked by)."""

    kind: str
    words: list[str] = field(default_factory=list)  # plain words as typed
    phrases: list[list[str]] = field(default_factory=list)  # quoted, words as typed
    titles: list[str] = field(default_factory=list)  # title:word
    bodies: list[str] = field(default_factory=list)  # text:word (a paragraph, not the title)
    slashed: list[tuple[str, str]] = field(default_factory=list)  # a/b: one clause, either
    excluded: list[str] = field(default_factory=list)  # -word
    spelled_not: bool = False  # NOT word instead of -word
    any_clause: bool = False  # words joined by OR
    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] = ()
    prose: bool = False  # in capitals, 4+ words: typed as "W1 W2 W3 NOT W4", NOT a word

    @property
    def text(self) -> str:
        if self.prose:
            return " ".join(self.words[:-1]) + " NOT " + self.words[-1]
        return self.typed

    def positive_terms(self) -> set[str]:
        """The analyzed terms of every word sought (not the excluded ones)."""
        words = [*self.words, *self.titles, *self.bodies, *(w for p in self.phrases for w in p)]
        words += [w for pair in self.slashed for w in pair]
        return {t for w in words for t in terms(w)}

    @property
    def typed(self) -> str:
        if self.any_clause:
            parts = [" OR ".join(self.words)]
        else:
            parts = list(self.words)
        parts += ['"' + " ".join(p) + '"' for p in self.phrases]
        parts += [f"title:{w}" for w in self.titles]
        parts += [f"text:{w}" for w in self.bodies]
        parts += [f"{a}/{b}" for a, b in self.slashed]
        parts += [("NOT " if self.spelled_not else "-") + w for w in self.excluded]
        return " ".join(parts)


def min_should_match(n: int, fraction: float = 0.5) -> int:
    return n if n <= 2 else max(2, math.floor(fraction * n + 1e-9))


class Corpus:
    """One generation's stored articles, analyzed."""

    def __init__(self, gen: Path) -> None:
        self.gen = gen
        manifest = json.loads((gen / "manifest.json").read_text())
        self.calibration = manifest["match_set"]
        self.articles = [json.loads(line) for line in open(gen / "articles.jsonl")]
        n = len(self.articles)
        self.alive = np.array([not a.get("deleted") for a in self.articles])
        self.ids = [a["id"] for a in self.articles]
        self.row_of = {a: i for i, a in enumerate(self.ids)}
        self.paragraph_terms: list[list[list[str]]] = [[] for _ in range(n)]
        self.paragraph_texts: list[list[str]] = [[] for _ in range(n)]
        article_of = []
        for line in open(gen / "paragraphs.jsonl"):
            p = json.loads(line)
            a = int(p["article"])
            article_of.append(a)
            self.paragraph_terms[a].append(terms(p["text"]))
            self.paragraph_texts[a].append(p["text"])
        self.article_of = np.array(article_of)
        self.title_terms = [terms(a.get("title") or "") for a in self.articles]
        self.all_terms = [
            set(self.title_terms[i]).union(*map(set, self.paragraph_terms[i])) for i in range(n)
        ]
        self.vectors = np.load(gen / "vectors.npy", mmap_mode="r")
        self.group_of = list(range(n))  # near-duplicate group: its first row
        for g in json.loads((gen / "duplicates.json").read_text())["groups"]:
            for r in g:
                self.group_of[r] = min(g)

    # -- the keyword rules --------------------------------------------------------------
    def holds(self, row: int, word: str) -> bool:
        """The article holds ``word`` (all its terms) in its title or any paragraph."""
        ts = terms(word)
        return bool(ts) and all(t in self.all_terms[row] for t in ts)

    def holds_phrase(self, row: int, words: list[str]) -> bool:
        seq = terms(" ".join(words))
        if not seq:
            return False
        for toks in [self.title_terms[row], *self.paragraph_terms[row]]:
            for i in range(len(toks) - len(seq) + 1):
                if toks[i : i + len(seq)] == seq:
                    return True
        return False

    def in_title(self, row: int, word: str) -> bool:
        ts = terms(word)
        return bool(ts) and all(t in self.title_terms[row] for t in ts)

    def in_body(self, row: int, word: str) -> bool:
        ts = terms(word)
        return bool(ts) and any(
            all(t in p for t in ts) for p in map(set, self.paragraph_terms[row])
        )

    def passes_filters(self, row: int, case: Case) -> bool:
        a = self.articles[row]
        if not self.alive[row]:
            return False
        date = (a.get("date") or "")[:10]
        if (case.date_from or case.date_to) and not date:
            return False
        if case.date_from and date < case.date_from:
            return False
        if case.date_to and date > case.date_to:
            return False
        if case.sources:
            src = (a.get("source") or "").casefold()
            if src not in {s.casefold() for s in case.sources}:
                return False
        return True

    def constrained(self, row: int, case: Case) -> bool:
        """Phrases and title: words held, no excluded word anywhere, filters passed."""
        return (
            self.passes_filters(row, case)
            and all(self.holds_phrase(row, p) for p in case.phrases)
            and all(self.in_title(row, w) for w in case.titles)
            and not any(self.holds(row, w) for w in case.excluded)
        )

    def clauses_held(self, row: int, case: Case) -> tuple[int, int]:
        """(clauses the article holds, clauses of the query)."""
        held = sum(self.holds(row, w) for w in case.words)
        held += sum(self.holds_phrase(row, p) for p in case.phrases)
        held += sum(self.in_title(row, w) for w in case.titles)
        held += sum(self.in_body(row, w) for w in case.bodies)
        held += sum(self.holds(row, a) or self.holds(row, b) for a, b in case.slashed)
        return held, self.clauses(case)

    @staticmethod
    def clauses(case: Case) -> int:
        return sum(map(len, (case.words, case.phrases, case.titles, case.bodies, case.slashed)))

    def decide(self, case: Case, mode: str, qvec: np.ndarray | None) -> dict:
        """The match set of ``case`` in ``mode`` by the README's rules, with the evidence: read
        on the articles without the date and source filters, then restricted to them."""
        n = len(self.articles)
        passes = np.array([self.passes_filters(r, case) for r in range(n)])
        out = self._decide(case, mode, qvec, np.ones(n, dtype=bool))
        out["set"] = out["set"] & passes
        out["ok"] = out["ok"] & passes
        return out

    def _decide(self, case: Case, mode: str, qvec: np.ndarray | None, passes) -> dict:
        n = len(self.articles)
        unfiltered = Case(**{**case.__dict__, "date_from": None, "date_to": None, "sources": ()})
        ok = np.array([self.constrained(r, unfiltered) for r in range(n)]) & passes
        held = np.zeros(n, dtype=int)
        clauses = 0
        for r in np.flatnonzero(ok):
            held[r], clauses = self.clauses_held(r, case)
        if clauses == 0:
            clauses = self.clauses(case)
        need = 1 if case.any_clause else min_should_match(clauses)
        keyword = ok & (held >= need) & (clauses > 0)
        out = {"keyword": keyword, "ok": ok, "held": held, "clauses": clauses}
        if mode == "keyword":
            out["set"] = keyword
            return out
        cos = self.vectors @ qvec.astype(np.float32)
        best = np.full(n, -np.inf)
        np.maximum.at(best, self.article_of, cos)
        best = np.where(ok, best, -np.inf)
        cal = self.calibration
        top = best.max() if n else -np.inf
        semantic = np.zeros(n, dtype=bool)
        if np.isfinite(top) and top >= cal["floor"]:
            semantic = best >= max(cal["floor"], top - cal["delta"])
        out.update(best=best, semantic=semantic, top=top)
        if mode == "semantic":
            out["set"] = semantic
            return out
        shares = ok & (held > 0)
        complete = held >= (1 if case.any_clause else clauses)
        s = keyword & (best >= cal["hybrid_floor"])
        if shares.any():
            s |= semantic & shares
            partial = 0 < clauses <= 2 and not case.any_clause and keyword.sum() < 10
            if partial:
                s |= shares & (best >= max(cal["partial_floor"], cal["hybrid_floor"]))
        else:
            s |= semantic
        s |= keyword & complete
        if not s.any() and keyword.any():
            s = keyword.copy()
        out["set"] = s
        return out

    def near_threshold(self, rows, best: np.ndarray, top: float, eps: float = 0.005) -> bool:
        """Whether every one of ``rows`` has a best cosine within ``eps`` of a threshold the
        rules read (an int8-scan score may fall either side of it)."""
        cal = self.calibration
        cuts = [cal["floor"], cal["hybrid_floor"], cal["partial_floor"], top - cal["delta"]]
        return all(any(abs(best[r] - c) <= eps for c in cuts) for r in rows)
