"""Generated queries for ``bench/audit.py``: real words of the stored corpus, as ``Case``s that
know what they mean (words, phrases, title words, exclusions, OR, filters, capitals)."""

from __future__ import annotations

import random
import re

from audit_truth import Case, Corpus, terms

WORD = re.compile(r"[A-Za-z]{4,12}")


def vocabulary(corpus: Corpus, rng: random.Random, n: int = 4000) -> list[str]:
    """Words as typed (lower case) that analyze to one term, from random articles."""
    words: set[str] = set()
    rows = [r for r in range(len(corpus.articles)) if corpus.alive[r]]
    while len(words) < n:
        r = rng.choice(rows)
        text = rng.choice(corpus.paragraph_texts[r]) if corpus.paragraph_texts[r] else ""
        for w in WORD.findall(text)[:40]:
            if len(terms(w)) == 1:
                words.add(w.lower())
    return sorted(words)


def article_words(corpus: Corpus, rng: random.Random, k: int) -> list[str]:
    """``k`` distinct-term words of one random article (so that the set is seldom empty)."""
    for _ in range(50):
        r = rng.randrange(len(corpus.articles))
        ws = [w.lower() for t in corpus.paragraph_texts[r] for w in WORD.findall(t)]
        ws = [w for w in ws if len(terms(w)) == 1]
        picked, seen = [], set()
        for w in rng.sample(ws, min(len(ws), 5 * k)):
            t = terms(w)[0]
            if t not in seen:
                seen.add(t)
                picked.append(w)
            if len(picked) == k:
                return picked
    return rng.sample(sorted({"market", "government", "minister"}), k)


def adjacent_pair(corpus: Corpus, rng: random.Random) -> list[str]:
    for _ in range(50):
        r = rng.randrange(len(corpus.articles))
        if not corpus.paragraph_texts[r]:
            continue
        toks = re.findall(r"\S+", rng.choice(corpus.paragraph_texts[r]))
        for _ in range(10):
            i = rng.randrange(max(1, len(toks) - 1))
            pair = toks[i : i + 2]
            if len(pair) == 2 and all(WORD.fullmatch(w) and len(terms(w)) == 1 for w in pair):
                return [w.lower() for w in pair]
    return ["interest", "rates"]


def title_word(corpus: Corpus, rng: random.Random) -> str:
    for _ in range(100):
        a = corpus.articles[rng.randrange(len(corpus.articles))]
        ws = [w for w in WORD.findall(a.get("title") or "") if len(terms(w)) == 1]
        if ws:
            return rng.choice(ws).lower()
    return "oil"


def make_cases(corpus: Corpus, n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    vocab = vocabulary(corpus, rng)
    dates = sorted({(a.get("date") or "")[:10] for a in corpus.articles if a.get("date")})
    sources = sorted({a["source"] for a in corpus.articles if a.get("source")})
    cases = []
    for i in range(n):
        kinds = ["one", "pair", "long", "phrase", "minus", "not", "or", "title", "random", "caps"]
        kinds += ["miss", "typo", "slash", "body"]
        kind = kinds[i % len(kinds)]
        c = Case(kind)
        if kind == "one":
            c.words = [rng.choice(vocab)]
        elif kind == "pair":
            c.words = article_words(corpus, rng, 2)
        elif kind == "long":
            c.words = article_words(corpus, rng, rng.randint(3, 6))
        elif kind == "phrase":
            c.phrases = [adjacent_pair(corpus, rng)]
            if rng.random() < 0.5:
                c.words = article_words(corpus, rng, 1)
        elif kind in ("minus", "not"):
            both = article_words(corpus, rng, 3)
            c.words, c.excluded = both[:1] if rng.random() < 0.5 else both[:2], [both[2]]
            c.spelled_not = kind == "not"
        elif kind == "or":
            c.words, c.any_clause = [rng.choice(vocab) for _ in range(rng.randint(2, 3))], True
        elif kind == "title":
            c.titles = [title_word(corpus, rng)]
            if rng.random() < 0.5:
                c.words = article_words(corpus, rng, 1)
        elif kind == "caps":  # typed in capitals: short keeps NOT, 4+ words read it as a word
            ws = [w.upper() for w in article_words(corpus, rng, rng.choice([2, 3, 5, 6]))]
            c.words, c.excluded, c.spelled_not = ws[:-1], ws[-1:], True
            if len(ws) - 1 >= 4:  # README "Relevance": prose, NOT a stop word, the word sought
                c.kind, c.words, c.excluded, c.prose = "prose", ws, [], True
        elif kind == "miss":  # a rare word, a narrow date range: often nothing, with hints
            c.words = article_words(corpus, rng, rng.randint(1, 2))
            day = rng.choice(dates)
            c.date_from, c.date_to = day, day
            if rng.random() < 0.5:
                c.phrases = [adjacent_pair(corpus, rng)]
        elif kind == "slash":  # 'Krone/Crown': one clause either word satisfies
            a, b, *rest = article_words(corpus, rng, rng.randint(2, 4))
            c.slashed, c.words = [(a, rng.choice(vocab) if rng.random() < 0.5 else b)], rest
        elif kind == "body":  # text:word, with a word of the title or of the text
            w = title_word(corpus, rng) if rng.random() < 0.5 else rng.choice(vocab)
            c.bodies, c.words = [w], article_words(corpus, rng, rng.randint(0, 1))
        elif kind == "typo":  # a misspelt word: keyword finds nothing, the other modes may
            w = rng.choice([w for w in vocab if len(w) >= 6])
            i = rng.randrange(1, len(w) - 2)
            c.words = [w[:i] + w[i + 1] + w[i] + w[i + 2 :]]
        else:
            c.words = [rng.choice(vocab) for _ in range(rng.randint(1, 3))]
        if kind == "miss":
            cases.append(c)
            continue
        if rng.random() < 0.3 and dates:
            a, b = sorted(rng.sample(dates, 2))
            c.date_from, c.date_to = (a, b) if rng.random() < 0.7 else (a, None)
        if rng.random() < 0.25 and sources:
            picked = rng.sample(sources, rng.randint(1, min(2, len(sources))))
            c.sources = tuple(s.upper() if rng.random() < 0.5 else s.lower() for s in picked)
        cases.append(c)
    return cases
