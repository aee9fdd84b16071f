"""Text cleaning shared by every reader of articles (files, HTML pages, feeds)."""

from __future__ import annotations

import re
import unicodedata

_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_C1 = re.compile("[\x80-\x9f]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f\x80-\x9f\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # from JSON escapes like "\ud800": not text


def _c1_to_cp1252(match: re.Match[str]) -> str:
    # U+0080..U+009F in text are almost always cp1252 bytes decoded as Latin-1 upstream
    # (e.g. "Sony\x92s"): restore the intended character instead of deleting it.
    return bytes([ord(match.group())]).decode("cp1252", errors="ignore")


def clean_text(text: str) -> str:
    """Unify line breaks, repair cp1252 C1 leftovers, drop other control characters, NFC."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _C1.sub(_c1_to_cp1252, text)
    text = _CONTROL.sub("", text)
    text = replace_surrogates(text)
    return unicodedata.normalize("NFC", text)


def replace_surrogates(text: str) -> str:
    """U+FFFD for each lone surrogate: it breaks tokenizers and cannot be written as UTF-8
    (a JSON escape like "\\ud800", or an undecodable byte of a command-line argument)."""
    return _SURROGATE.sub("\ufffd", text)


def one_line(text: str) -> str:
    """Clean text and collapse all whitespace (newlines included) to single spaces."""
    return " ".join(clean_text(text).split())


def split_paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; lines inside a paragraph are joined with a space."""
    blocks = re.split(r"\n\s*\n", clean_text(text))
    return [p for p in (" ".join(b.split()) for b in blocks) if p]
