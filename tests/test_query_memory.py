"""Issue #17, class 1: caches keyed by query words are bounded (random words cannot grow them).

The RSS figure over 5,000 random-word queries against a running server is in
``bench/hostile.py``; here the bound itself is checked, and that evicting changes no ranking.
"""

from __future__ import annotations

import random
import string

from search import postings
from search.keyword import KeywordIndex
from search.layout import WHOOSH
from search.store import current_generation


def _random_word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12)))


def test_postings_cache_stays_within_its_budget(settings, built_index, monkeypatch) -> None:
    budget = 64 * 1024
    monkeypatch.setattr(postings, "MAX_POSTINGS_BYTES", budget)
    monkeypatch.setattr(postings, "MAX_PHRASE_BYTES", budget // 4)
    gen = current_generation(settings.index_dir)
    kw = KeywordIndex(gen / WHOOSH)
    fresh = KeywordIndex(gen / WHOOSH)  # never sees the random words
    try:
        real = ["hurricane", "oil prices", '"central bank"', "election NOT senate", "tech*"]
        before = {q: kw.search(q, 20).hits for q in real}
        rng = random.Random(17)
        for i in range(3000):
            words = " ".join(_random_word(rng) for _ in range(rng.randint(1, 4)))
            kw.search(f'"{words}"' if i % 10 == 0 else words, 10)
            assert kw._scored.cached_bytes() <= budget + budget // 4
        for q in real:  # after eviction, recomputed postings rank the same
            assert kw.search(q, 20).hits == before[q] == fresh.search(q, 20).hits
        assert any(before.values())
    finally:
        kw.close()
        fresh.close()
