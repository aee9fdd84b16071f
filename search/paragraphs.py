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
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]*[A-Z0-9À-Þ])")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]?\.?")  # U.S. / D.C. / U.S (spaced-out text)
_LEADING_OPENERS = "\"'“‘(["


def approx_tokens(text: str) -> int:
    """Rough WordPiece count for English: words and punctuation marks, times 1.3, rounded up.

    Cheap and dependency-free, for tests and as a default; the index build passes the real
    tokenizer's counter instead.
    """
    return math.ceil(len(_TOKEN.findall(text)) * 1.3)


def _is_abbreviation(before: str) -> bool:
    """True if the word just before a '.' (``before`` = text up to the dot) is an abbreviation."""
    words = before.split()
    if not words:
        return False
    word = words[-1].lstrip(_LEADING_OPENERS)
    if before[-1:].isspace():
        # Spaced-out text such as "THE U.S . FIRST": judge the word before the space.
        word = word.rstrip(".")
    if word.lower() in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "John F. Kennedy"
        return True
    return bool(_ACRONYM.fullmatch(word + "." if not word.endswith(".") else word))


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
        if punct == "." and _is_abbreviation(text[start : match.start()]):
            continue
        sentence = text[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _split_chars(word: str, count_tokens: TokenCounter, max_tokens: int) -> list[str]:
    """Cut one over-long word into the longest character runs that fit (binary search)."""
    pieces: list[str] = []
    while word:
        lo, hi = 1, len(word)
        if count_tokens(word[:1]) > max_tokens:
            raise ValueError(f"max_tokens={max_tokens} is too small for a single character")
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(word[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(word[:lo])
        word = word[lo:]
    return pieces


def _pack(units: list[str], count_tokens: TokenCounter, max_tokens: int) -> list[str]:
    """Join consecutive units (sentences or words) into chunks of at most ``max_tokens``.

    As few chunks as greedy packing needs, but of similar sizes (aiming at total / chunks), so
    the last one is not a stub. Never over ``max_tokens``: each chunk is re-counted as joined.
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
    chunks: list[str] = []
    current: list[str] = []
    current_size = 0
    for unit, size in zip(units, sizes, strict=True):
        grown = current_size + size
        if current and (
            grown > budget
            or grown - target > target - current_size  # stopping here is nearer the target
            or count_tokens(" ".join([*current, unit])) > max_tokens
        ):
            chunks.append(" ".join(current))
            current, grown = [], size
        current.append(unit)
        current_size = grown
    if current:
        chunks.append(" ".join(current))
    return chunks


def _fit(text: str, count_tokens: TokenCounter, max_tokens: int) -> list[str]:
    """Split one paragraph into pieces of at most ``max_tokens`` (sentences, then words)."""
    if count_tokens(text) <= max_tokens:
        return [text]
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
    chunks = _pack(units, count_tokens, max_tokens)
    # Units that fit alone always fit as a chunk of one, so this only fails on a tokenizer
    # whose count of a joined text is below that of its parts; guard against it regardless.
    for chunk in chunks:
        if count_tokens(chunk) > max_tokens:
            raise ValueError(f"could not fit a chunk into {max_tokens} tokens: {chunk[:60]!r}")
    return chunks


def _merge_short(
    pieces: list[str], count_tokens: TokenCounter, max_tokens: int, min_tokens: int
) -> list[str]:
    """Merge pieces under ``min_tokens`` into the previous piece, else the next, if they fit."""
    out: list[str] = []
    carry: str | None = None  # a short piece waiting to be prepended to the next one
    for i, piece in enumerate(pieces):
        if carry is not None:
            piece, carry = f"{carry} {piece}", None
        if count_tokens(piece) < min_tokens:
            if out and count_tokens(f"{out[-1]} {piece}") <= max_tokens:
                out[-1] = f"{out[-1]} {piece}"
                continue
            if i + 1 < len(pieces) and count_tokens(f"{piece} {pieces[i + 1]}") <= max_tokens:
                carry = piece
                continue
        out.append(piece)
    return out


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
    pieces: list[str] = []
    for raw in article.paragraphs:
        text = " ".join(raw.split())
        if text:
            pieces.extend(_fit(text, count_tokens, max_tokens))
    pieces = _merge_short(pieces, count_tokens, max_tokens, min_tokens)
    return [
        Paragraph(id=f"{article.id}:{n}", article_id=article.id, n=n, text=text)
        for n, text in enumerate(pieces)
    ]
