"""Did you mean: a rewrite of the query's unknown words that the index supports as a phrase.

Pure logic over a :class:`Lexicon` (the index side, ``search/lexicon.py``, answers it from the
keyword index). The rules, each a test in ``tests/test_suggest.py``:

* Only words the index does not know are rewritten; known words, excluded words (``-word``),
  operators, field names and prefixes (``word*``) are left as typed.
* A candidate is a spelling-field word within a weighted Damerau distance (optimal string
  alignment: an adjacent transposition is one edit, a vowel for a vowel 0.75, a doubled or
  undoubled letter 0.5), up to a limit that grows with the word's length.
* Candidates are scored as a phrase: ``support`` is the number of paragraphs containing every
  known word of the query plus every replacement, not each word's frequency on its own; the
  best rewrite has the best ``log(support) - EDIT_PENALTY * cost``.
* That best reading must be earned, else the word is kept as typed: the phrase is in
  ``support >= MIN_SUPPORT`` and ``>= SUPPORT_PER_EDIT ** cost`` paragraphs (an unknown word
  is as likely a name the index lacks as a typo of a word that rare); or, next to other words,
  the phrase occurs and the replacement would be earned on its own, or it is in at least
  ``CONTEXT_SHARE`` of the known words' paragraphs. "Tigray" is not made "tiara", "Huawei
  ban" not "hubei ban", and a dearer, commoner word is never offered for a cheaper, rarer one.
* Nor when another reading of the word scores within ``AMBIGUITY_MARGIN`` of the best.
* So a suggestion is offered only when it matches clearly more than the query as typed (which
  matches nothing as a phrase: it has a word the index lacks).
* The user's casing is kept (``Sirya withdrawl`` -> ``Syria withdrawal``).

The constants were chosen on half A of ``bench/suggest.py``'s pairs; half B is the check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

VOWELS = frozenset("aeiouy")
VOWEL_COST = 0.75  # a vowel for a vowel ("seperate")
MIN_SUPPORT = 2  # paragraphs that must contain the suggested phrase
SUPPORT_PER_EDIT = 2.0  # the support needed doubles with each edit of a replaced word
CONTEXT_SHARE = 0.5  # or: share of the known words' paragraphs that have the replacement
EDIT_PENALTY = 5.0  # ranking: one edit is worth a factor e**5 (150) in phrase support
AMBIGUITY_MARGIN = 1.0  # no rewrite when another reading of the word scores nearly as well
MAX_CANDIDATES = 6  # per unknown word, the cheapest (then most frequent) kept
BEAM = 24  # partial rewrites kept while adding unknown words left to right
MAX_UNKNOWN = 8  # unknown words looked up per query (each is a candidate scan)
OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO"})

# A word; not a prefix ("mone*"), not a field name ("title:"); "-" before it excludes it.
_TOKEN = re.compile(r"(?<![\w*])(-?)(\w+)(?![\w*:])")


class Lexicon(Protocol):
    """What the suggester needs from an index (words are folded: lower-case, no accents)."""

    def fold(self, token: str) -> str:
        """The token as the spelling field stores it ("" when it has no indexable word)."""

    def known(self, word: str) -> bool:
        """Whether a search for ``word`` (stemmed, as the keyword leg does) finds anything."""

    def near(self, word: str, limit: float) -> list[tuple[str, float]]:
        """Spelling-field words within ``edit_cost(word, w) <= limit``, with their cost."""

    def frequency(self, word: str) -> int:
        """Paragraphs whose text contains ``word`` (a spelling-field word)."""

    def cooccurrence(self, words: Sequence[str]) -> int:
        """Paragraphs containing every word of ``words`` (each as the keyword leg finds it)."""

    def search_key(self, word: str) -> str:
        """What the keyword leg searches for ``word`` (its stems): equal keys find the same."""


def edit_cost(a: str, b: str, limit: float = 2.0) -> float:
    """Weighted optimal-string-alignment distance from ``a`` (typed) to ``b`` (candidate).

    Insert, delete, substitute and adjacent transposition cost 1; a vowel for a vowel costs
    ``VOWEL_COST``, inserting or deleting a letter next to the same letter ("accross",
    "adress") 0.5.
    Returns a value above ``limit`` as soon as the distance must exceed it.
    """
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1.0
    del_a, ins_b = _indels(a), _indels(b)
    prev2: list[float] = []
    prev = [0.0] * (lb + 1)
    for j in range(1, lb + 1):
        prev[j] = prev[j - 1] + ins_b[j - 1]
    for i in range(1, la + 1):
        ca, da = a[i - 1], del_a[i - 1]
        cur = [prev[0] + da] + [0.0] * lb
        va = ca in VOWELS
        for j in range(1, lb + 1):
            cb = b[j - 1]
            if ca == cb:
                v = prev[j - 1]
            else:
                v = prev[j - 1] + (VOWEL_COST if va and cb in VOWELS else 1.0)
            d = prev[j] + da
            if d < v:
                v = d
            d = cur[j - 1] + ins_b[j - 1]
            if d < v:
                v = d
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb and ca != cb:
                d = prev2[j - 2] + 1.0
                if d < v:
                    v = d
            cur[j] = v
        if min(cur) > limit:
            return limit + 1.0
        prev2, prev = prev, cur
    return prev[lb]


def _indels(s: str) -> list[float]:
    """Cost of inserting or deleting each letter of ``s``: half when it doubles a neighbour."""
    n = len(s)
    return [
        0.5 if (i > 0 and s[i - 1] == c) or (i + 1 < n and s[i + 1] == c) else 1.0
        for i, c in enumerate(s)
    ]


def cost_limit(word: str) -> float:
    """How far a word of this length may be from its correction."""
    n = len(word)
    if n <= 4:
        return 1.0
    if n <= 7:
        return 1.5
    return 2.0


def keep_case(typed: str, word: str) -> str:
    """``word`` in the casing pattern of ``typed`` (UPPER, Capitalised or lower)."""
    if len(typed) > 1 and typed.isupper():
        return word.upper()
    if typed[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


@dataclass(frozen=True)
class _Slot:
    start: int
    end: int
    typed: str
    folded: str
    candidates: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class _Partial:
    words: tuple[str, ...]  # known words plus the replacements chosen so far
    choice: tuple[tuple[str, float] | None, ...]  # per slot: (replacement, cost) or kept
    support: int


def suggest(text: str, lexicon: Lexicon) -> str | None:
    """The query with some unknown words replaced, or None when no rewrite is clearly better."""
    known: list[str] = []
    slots: list[_Slot] = []
    after_not = False
    for m in _TOKEN.finditer(text):
        minus, token = m.group(1), m.group(2)
        excluded, after_not = bool(minus) or after_not, token == "NOT"
        if excluded or token in OPERATORS:
            continue
        folded = lexicon.fold(token)
        if not folded:
            continue
        if lexicon.known(folded):
            known.append(folded)
            continue
        if len(folded) < 3 or not folded.isalpha() or len(slots) >= MAX_UNKNOWN:
            continue
        cands = _candidates(folded, lexicon)
        if cands:
            slots.append(_Slot(m.start(2), m.end(2), token, folded, tuple(cands)))
    if not slots:
        return None
    best = _best_rewrite(tuple(dict.fromkeys(known)), slots, lexicon)
    if best is None:
        return None
    out, pos = [], 0
    for slot, choice in zip(slots, best.choice, strict=True):
        if choice is not None:
            out.append(text[pos : slot.start])
            out.append(keep_case(slot.typed, choice[0]))
            pos = slot.end
    out.append(text[pos:])
    return " ".join("".join(out).split())


def _candidates(word: str, lexicon: Lexicon) -> list[tuple[str, float]]:
    found = [(w, c) for w, c in lexicon.near(word, cost_limit(word)) if w != word]
    found.sort(key=lambda wc: (wc[1], -lexicon.frequency(wc[0]), wc[0]))
    return found[:MAX_CANDIDATES]


def _earned(support: int, cost: float, context: int, alone: int, replaced: int) -> bool:
    """Whether a replacement of this cost is supported enough by the phrase.

    ``support``: paragraphs with the whole rewritten phrase; ``context``: with the query's
    known words (0 when it has none); ``alone``: with the replacement on its own;
    ``replaced``: how many words the rewrite replaces.
    """
    if support >= MIN_SUPPORT and support >= SUPPORT_PER_EDIT**cost:
        return True
    if context > 0 and cost <= 1.0 and support >= CONTEXT_SHARE * context:
        return True  # a rare context: the replacement is in most of its paragraphs
    # The phrase occurs, and the replacement would be earned on its own.
    return (replaced > 1 or context > 0) and support > 0 and _earned(alone, cost, 0, 0, 1)


def _best_rewrite(known: tuple[str, ...], slots: list[_Slot], lexicon: Lexicon) -> _Partial | None:
    """The best rewrite whose every replacement is earned, or None.

    Beam search over the slots (each kept, or replaced by one of its candidates, as long as
    the phrase still occurs somewhere); the best rewrite replaces the most words, then has the
    best noisy-channel score ``log(support) - EDIT_PENALTY * cost``. If one of its replacements
    is not earned, or another reading of the same word scores within ``AMBIGUITY_MARGIN`` of
    it, the word is kept as typed (a cheaper, rarer word is never passed over for a dearer,
    commoner one; "casues" is as much "cases" as "causes") and the search runs again.
    """
    counts: dict[frozenset[str], int] = {}

    def support(words: tuple[str, ...]) -> int:
        key = frozenset(words)
        if key not in counts:
            counts[key] = lexicon.cooccurrence(sorted(key))
        return counts[key]

    context = support(known) if known else 0
    kept: set[int] = set()
    while True:
        beam = [_Partial(known, (), -1)]
        for i, slot in enumerate(slots):
            grown = [_Partial(p.words, (*p.choice, None), p.support) for p in beam]
            if i not in kept:
                for p in beam:
                    for word, cost in slot.candidates:
                        words = (*p.words, word)
                        s = support(words)
                        if s > 0:
                            grown.append(_Partial(words, (*p.choice, (word, cost)), s))
            grown.sort(key=_rank, reverse=True)
            beam = grown[:BEAM]
        best = max(beam, key=_rank)
        replaced = [c for c in best.choice if c is not None]
        unearned = [
            (c[1], i)
            for i, c in enumerate(best.choice)
            if c is not None
            and not _earned(best.support, c[1], context, support((c[0],)), len(replaced))
        ]
        if not unearned:
            unearned = _ambiguous(best, beam, lexicon)
        if not unearned:
            return best if any(c is not None for c in best.choice) else None
        kept.add(max(unearned)[1])


def _ambiguous(best: _Partial, beam: list[_Partial], lexicon: Lexicon) -> list[tuple[float, int]]:
    """Replacements of ``best`` that another reading of the same word nearly ties with (one
    that searches differently: "withdraw" is no rival to "withdrawal")."""
    top = _rank(best)
    out = []
    for i, c in enumerate(best.choice):
        if c is None:
            continue
        key = lexicon.search_key(c[0])
        rivals = [
            _rank(p)[1]
            for p in beam
            if p.choice[i] is not None
            and _rank(p)[0] == top[0]
            and lexicon.search_key(p.choice[i][0]) != key
        ]
        if rivals and top[1] - max(rivals) < AMBIGUITY_MARGIN:
            out.append((c[1], i))
    return out


def _rank(p: _Partial) -> tuple[int, float]:
    replaced = [c for c in p.choice if c is not None]
    if not replaced:
        return 0, 0.0
    return len(replaced), math.log(max(p.support, 1)) - EDIT_PENALTY * sum(c for _, c in replaced)
