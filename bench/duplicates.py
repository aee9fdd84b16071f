"""How many near-duplicate articles a built index holds, by cosine threshold.

Prints, for each threshold, the number of article pairs whose mean paragraph vectors reach it,
the articles involved, and how many of those pairs also share most of their wording (word
5-shingle Jaccard ≥ 0.5), a rough precision check for "the same story re-published".

    .venv/bin/python bench/duplicates.py --index-dir /tmp/wikinews-ix
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from search.config import Settings
from search.generation import Generation
from search.related import article_vectors

THRESHOLDS = (0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.99)


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    args = ap.parse_args()
    settings = Settings.from_env(index_dir=args.index_dir)
    from search.store import current_generation

    gen = Generation.open(current_generation(args.index_dir), settings, verify=False)
    vecs = article_vectors(gen.vectors.matrix, gen.article_of, len(gen.articles))
    texts: dict[int, list[str]] = {}
    for i, p in enumerate(gen.paragraphs):
        texts.setdefault(int(gen.article_of[i]), []).append(p["text"])
    lo = min(THRESHOLDS)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(vecs), 2048):
        sims = vecs[start : start + 2048] @ vecs.T
        for r, c in zip(*np.nonzero(sims >= lo), strict=True):
            if c > r + start:
                pairs.append((r + start, int(c), float(sims[r, c])))
    cache: dict[int, set] = {}

    def sh(i: int) -> set:
        if i not in cache:
            cache[i] = shingles(" ".join(texts.get(i, [])))
        return cache[i]

    jac = {(a, b): jaccard(sh(a), sh(b)) for a, b, _ in pairs}
    print(f"{args.index_dir}: {len(gen.articles)} articles")
    print(f"{'cosine ≥':>9} {'pairs':>7} {'articles':>9} {'jaccard≥0.5':>12} {'share':>6}")
    for t in THRESHOLDS:
        sel = [(a, b) for a, b, s in pairs if s >= t]
        arts = len({x for p in sel for x in p})
        same = sum(1 for p in sel if jac[p] >= 0.5)
        share = f"{same / len(sel):.0%}" if sel else "-"
        print(f"{t:>9.2f} {len(sel):>7} {arts:>9} {same:>12} {share:>6}")


if __name__ == "__main__":
    main()
