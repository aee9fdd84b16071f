"""Cut articles into model-sized paragraphs.

The embedding model reads at most 256 word pieces and silently drops the rest, so every
paragraph handed to it must fit. Over-long source paragraphs are split at sentence boundaries
(then at word boundaries, then, for a single monstrous "word", at characters); fragments too short
to mean much on their own (a one-line quote, "he said.") are merged into a neighbour.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from search.models import Article, Paragraph

TokenCounter = Callable[[str], int]

_TOKEN = re.compile(r"\w+|[^\w\s]")

# Words that end with a period without ending a sentence (compared case-insensitively).
ABBREVIATIONS = frozenset(
    """
    mr mrs ms messrs dr prof sr jr st mt ft ave blvd rd gen col lt maj capt cmdr sgt cpl adm
    gov sen rep rev hon pres supt insp det amb atty jan feb mar apr jun jul aug sep sept oct
    nov dec no nos vol vols pp fig approx est dept univ assn bros vs etc cf al ca
    """.split()
)

# Possible boundary: sentence punctuation, optional closing quotes/brackets, whitespace, then
# something that can start a sentence (capital, digit, opening quote or bracket).
# The lookbehind starts a match only at the first mark of a run: without it a run of n dots
# is rescanned from each of its n positions (quadratic: 30k dots took 22 s, issue #17).
_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+\s+(?=[\"'“‘(\[]*[A-Z0-9À-Þ])")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.){2,}")  # U.S. / D.C. (the last dot added by the caller)
_LEADING_OPENERS = "\"'“‘(["


def approx_tokens(text: str) -> int:
    """Rough WordPiece count for English: words and punctuation marks, times 1.3, rounded up.

    Cheap and dependency-free, for tests and as a default; the index build passes the real
    tokenizer's counter instead.
    """
    return math.ceil(len(_TOKEN.findall(text)) * 1.3)


def _is_abbreviation(text: str, start: int, dot: int) -> bool:
    """True if the word before the '.' at ``text[dot]`` (not before ``start``) abbreviates."""
    end = dot
    while end > start and text[end - 1] == " ":  # spaced-out text: "THE U.S . FIRST"
        end -= 1
    word = text[max(start, text.rfind(" ", start, end) + 1) : end].lstrip(_LEADING_OPENERS)
    word = word.rstrip(".")
    if not word:
        return False
    if word.lower() in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "John F. Kennedy"
        return True
    return bool(_ACRONYM.fullmatch(word + "."))


def split_sentences(text: str) -> list[str]:
    """Split text into sentences with a regex, not breaking at "U.S.", "Dec.", "Mr.", "3.5".

    A boundary is sentence punctuation followed by whitespace and a capital, digit or opening
    quote; a single '.' after a known abbreviation, an initial or a dotted acronym is not one.
    Joining the result with single spaces gives back the whitespace-normalised text.
    """
    text = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        punct = match.group().rstrip().rstrip("\"'”’)]")
        if punct == "." and _is_abbreviation(text, start, match.start()):
            continue
        sentence = text[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _longest_fit(word: str, count_tokens: TokenCounter, max_tokens: int, guess: int) -> int:
    """The longest prefix of ``word`` that fits (at least 1), counting prefixes no longer than
    about twice the answer: gallop up from ``guess``, then binary search. A binary search over
    the whole word would count the whole remaining word ~log(n) times per piece, quadratic in
    a long "word" ("ab," × 130000 took 137 s, issue #17)."""
    n = len(word)
    lo, hi = 1, n  # word[:lo] fits; nothing longer than word[:hi] does
    probe = min(n, max(2, guess))
    while probe > lo:
        if count_tokens(word[:probe]) <= max_tokens:
            lo, probe = probe, min(n, probe * 2)
        else:
            hi = probe - 1
            break
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(word[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _split_chars(word: str, count_tokens: TokenCounter, max_tokens: int) -> list[str]:
    """Cut one over-long word into the longest character runs that fit (in linear time)."""
    pieces: list[str] = []
    guess = 2 * max_tokens
    while word:
        if count_tokens(word[:1]) > max_tokens:
            raise ValueError(f"max_tokens={max_tokens} is too small for a single character")
        cut = _longest_fit(word, count_tokens, max_tokens, guess)
        pieces.append(word[:cut])
        word = word[cut:]
        guess = cut
    return pieces


Sized = tuple[str, int]  # a piece of text and its token count


def _pack(units: list[str], count_tokens: TokenCounter, max_tokens: int) -> list[Sized]:
    """Join consecutive units (sentences or words) into chunks of at most ``max_tokens``.

    As few chunks as greedy packing needs, but of similar sizes (aiming at total / chunks), so
    the last one is not a stub. Sizes are added up (one count per unit, cheap); each chunk is
    then counted as joined text, and re-packed strictly in the rare case that is over.
    """
    overhead = count_tokens("")  # e.g. [CLS] and [SEP]: counted once per chunk, not per unit
    budget = max_tokens - overhead
    sizes = [count_tokens(u) - overhead for u in units]
    needed, filled = 1, 0
    for size in sizes:
        if filled and filled + size > budget:
            needed, filled = needed + 1, 0
        filled += size
    target = sum(sizes) / needed
    groups: list[list[str]] = []
    current: list[str] = []
    current_size = 0
    for unit, size in zip(units, sizes, strict=True):
        grown = current_size + size
        # Close the chunk when the unit would overflow it, or stopping is nearer the target.
        if current and (grown > budget or grown - target > target - current_size):
            groups.append(current)
            current, grown = [], size
        current.append(unit)
        current_size = grown
    if current:
        groups.append(current)
    chunks: list[Sized] = []
    for group in groups:
        chunk = " ".join(group)
        size = count_tokens(chunk)
        if size <= max_tokens:
            chunks.append((chunk, size))
        else:
            chunks.extend(_pack_strict(group, count_tokens, max_tokens))
    return chunks


def _pack_strict(units: list[str], count_tokens: TokenCounter, max_tokens: int) -> list[Sized]:
    """Greedy packing that counts every candidate as joined text (for odd tokenizers).

    Each unit fits alone, so every chunk fits: one unit, or a join that was counted.
    """
    chunks: list[Sized] = []
    current = units[0]
    for unit in units[1:]:
        joined = f"{current} {unit}"
        if count_tokens(joined) <= max_tokens:
            current = joined
        else:
            chunks.append((current, count_tokens(current)))
            current = unit
    chunks.append((current, count_tokens(current)))
    return chunks


def _fit(text: str, count_tokens: TokenCounter, max_tokens: int) -> list[Sized]:
    """Split one paragraph into pieces of at most ``max_tokens`` (sentences, then words)."""
    size = count_tokens(text)
    if size <= max_tokens:
        return [(text, size)]
    units: list[str] = []
    for sentence in split_sentences(text):
        if count_tokens(sentence) <= max_tokens:
            units.append(sentence)
            continue
        for word in sentence.split():
            if count_tokens(word) <= max_tokens:
                units.append(word)
            else:
                units.extend(_split_chars(word, count_tokens, max_tokens))
    return _pack(units, count_tokens, max_tokens)


def _merge_short(
    pieces: list[Sized], count_tokens: TokenCounter, max_tokens: int, min_tokens: int
) -> list[str]:
    """Merge pieces under ``min_tokens`` into the previous piece, else the next, if they fit."""
    out: list[Sized] = []
    carry: Sized | None = None  # a short piece waiting to be prepended to the next one
    for i, (text, size) in enumerate(pieces):
        if carry is not None:
            text = f"{carry[0]} {text}"
            size, carry = carry[1], None  # the joined count, measured when carry was chosen
        if size < min_tokens:
            if out:
                joined = f"{out[-1][0]} {text}"
                joined_size = count_tokens(joined)
                if joined_size <= max_tokens:
                    out[-1] = (joined, joined_size)
                    continue
            if i + 1 < len(pieces):
                joined_size = count_tokens(f"{text} {pieces[i + 1][0]}")
                if joined_size <= max_tokens:
                    carry = (text, joined_size)
                    continue
        out.append((text, size))
    return [text for text, _ in out]


def split_article(
    article: Article,
    count_tokens: TokenCounter = approx_tokens,
    max_tokens: int = 200,
    min_tokens: int = 12,
) -> list[Paragraph]:
    """Turn an article's source paragraphs into Paragraphs of at most ``max_tokens`` each.

    Guarantees ``count_tokens(p.text) <= max_tokens`` for every returned paragraph. Ids are
    ``f"{article.id}:{n}"`` with ``n`` from 0 in reading order (split them with
    ``rsplit(":", 1)``: article ids may contain ':'). The title is not included: it is indexed
    separately. An article whose paragraphs are all empty gives ``[]``.
    """
    if max_tokens < 1 or min_tokens > max_tokens:
        raise ValueError(f"need 1 <= max_tokens and min_tokens <= max_tokens, got {max_tokens=}")
    sized: list[Sized] = []
    for raw in article.paragraphs:
        text = " ".join(raw.split())
        if text:
            sized.extend(_fit(text, count_tokens, max_tokens))
    pieces = _merge_short(sized, count_tokens, max_tokens, min_tokens)
    return [
        Paragraph(id=f"{article.id}:{n}", article_id=article.id, n=n, text=text)
        for n, text in enumerate(pieces)
    ]
