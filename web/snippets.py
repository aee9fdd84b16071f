"""Short result snippets: one or two sentences around the best-matching passage.

Pure functions, no Flask. The engine hands over whole paragraphs with a ``highlighted`` copy
(escaped text plus ``<mark>`` tags); here the marks are mapped back onto the plain text, the
snippet is cut from the plain text, and the HTML is rebuilt by escaping every piece and adding
only our own ``<mark>`` tags, so corpus text can never inject markup.

Paragraphs that read like page furniture (image captions, map legends, bylines, interview
cues, one-line fragments) are passed over whenever a real paragraph matches too.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["MAX_CHARS", "Snippet", "is_boilerplate", "make_snippet", "mark_spans", "render"]

MAX_CHARS = 300  # per result, ellipses not counted
ELLIPSIS = "…"
_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)
_ANGLE = re.compile(r"[<>]")
# A sentence ends at . ! ? (and any closing quotes/brackets) followed by space and a capital,
# digit or opening quote; "U.S. officials" stays one sentence often enough for a snippet.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[A-Z0-9\"“‘'(\[])")
_CAPTION = re.compile(r"\b(?:Image|Photo|Picture|File|Video|Credit|Map|Graphic)s?\s*:", re.I)
_INTERVIEW_CUE = re.compile(r"^\s*(?:\(\([^)]{1,60}\)\)|[A-Z][\w .'-]{0,40}:)\s*")
_BYLINE = re.compile(
    r"^\s*(?:[—–-]+\s*\w|by\s+[A-Z]|reporting by|editing by|written by|sources?\b|related news\b"
    r"|external links?\b|see also\b|share this\b|this article\b|have an opinion\b)",
    re.I,
)
_WIKINEWS_CUE = re.compile(r"\(\(([^()]{1,60})\)\)\s*:?\s*")
_LETTER = re.compile(r"[^\W\d_]", re.U)
_WORD = re.compile(r"\w+", re.U)


@dataclass(frozen=True)
class Snippet:
    """A cut of one paragraph: ``html`` is safe markup; ``cut_start``/``cut_end`` say where an
    ellipsis stands for the rest of the paragraph."""

    html: Markup
    text: str
    cut_start: bool
    cut_end: bool


def is_boilerplate(text: str) -> bool:
    """True for a paragraph a reader would not want as the snippet of a story."""
    stripped = text.strip()
    words = _WORD.findall(stripped)
    if len(words) < 8:
        return True  # fragments, headings, "—Troy Roberts", "██ Hare: 3"
    letters = len(_LETTER.findall(stripped))
    if letters < 0.6 * len(stripped.replace(" ", "")):
        return True  # legends, tables, lists of numbers or symbols
    if "██" in stripped or "■" in stripped:
        return True
    if _CAPTION.search(stripped) and len(words) < 40:
        return True  # "Mime artists against Brexit. Image: EliasHabermas."
    if _BYLINE.match(stripped) and len(words) < 20:
        return True
    cue = _INTERVIEW_CUE.match(stripped)
    if cue and stripped.startswith("(("):
        who = cue.group(0).strip("() :\t")
        if who.upper() in {"WN", "WSS", "WIKINEWS"} or len(words) < 25:
            return True  # the interviewer's question, or a one-line answer
    return False


def mark_spans(text: str, highlighted: str) -> list[tuple[int, int]]:
    """Where ``highlighted``'s ``<mark>`` tags fall in ``text``; [] if it is not a marked-up
    copy of exactly ``text`` (then the snippet is simply shown unhighlighted)."""
    if not highlighted:
        return []
    spans, pos, plain = [], 0, []
    last = 0
    for m in _MARK.finditer(highlighted):
        raw_before, raw_inner = highlighted[last : m.start()], m.group(1)
        if _ANGLE.search(raw_before) or _ANGLE.search(raw_inner):
            return []  # any tag but <mark>: not our escaped highlighting
        before, inner = html.unescape(raw_before), html.unescape(raw_inner)
        plain += [before, inner]
        pos += len(before)
        spans.append((pos, pos + len(inner)))
        pos += len(inner)
        last = m.end()
    if (
        _ANGLE.search(highlighted[last:])
        or "".join(plain) + html.unescape(highlighted[last:]) != text
    ):
        return []
    return [(a, b) for a, b in spans if b > a]


def render(
    text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None
) -> Markup:
    """``text[start:end]`` escaped, with ``spans`` (absolute offsets) wrapped in ``<mark>``."""
    end = len(text) if end is None else end
    out, pos = [], start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if b <= a or a < pos:
            continue
        out.append(str(escape(text[pos:a])))
        out.append(f"<mark>{escape(text[a:b])}</mark>")
        pos = b
    out.append(str(escape(text[pos:end])))
    return Markup("".join(out))


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trailing space excluded."""
    bounds, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text.rstrip())))
    return [(a, b) for a, b in bounds if b > a]


def _window(text: str, a: int, b: int, focus: int, limit: int) -> tuple[int, int]:
    """At most ``limit`` characters of ``text[a:b]`` around ``focus``, cut at spaces."""
    if b - a <= limit:
        return a, b
    lo = max(a, min(focus - limit // 3, b - limit))
    hi = min(b, lo + limit)
    if lo > a:
        space = text.find(" ", lo, lo + 40)
        lo = space + 1 if space != -1 and space + 1 < hi else lo
    if hi < b:
        space = text.rfind(" ", lo, hi)
        hi = space if space > lo else hi
    return lo, hi


def make_snippet(text: str, highlighted: str = "", limit: int = MAX_CHARS) -> Snippet:
    """One or two sentences of ``text`` around its best-highlighted sentence, ≤ ``limit``
    characters, highlighted, with ellipses where the paragraph was cut."""
    text = text.strip()
    spans = mark_spans(text, highlighted.strip()) if highlighted else []
    sentences = _sentences(text) or [(0, len(text))]

    def hits(s: tuple[int, int]) -> int:
        return len({text[a:b].casefold() for a, b in spans if s[0] <= a < s[1]})

    best = max(range(len(sentences)), key=lambda i: (hits(sentences[i]), -i))
    a, b = sentences[best]
    # One more whole sentence if it fits: the next one first (news reads forward).
    if best + 1 < len(sentences) and sentences[best + 1][1] - a <= limit:
        b = sentences[best + 1][1]
    elif best > 0 and b - sentences[best - 1][0] <= limit:
        a = sentences[best - 1][0]
    focus = next((s for s, _ in spans if a <= s < b), a)
    a, b = _window(text, a, b, focus, limit)
    cut_start, cut_end = a > 0, b < len(text)
    speaker = Markup("")
    cue = _WIKINEWS_CUE.match(text) if a == 0 else None
    if cue and cue.end() < b:  # "((Sara Seager))  It's one of…" reads "Sara Seager: It's…"
        speaker = escape(cue.group(1).strip()) + Markup(": ")
        a = cue.end()
    body = render(text, spans, a, b)
    shown = Markup(ELLIPSIS + " " if cut_start else "") + speaker + body
    shown += Markup(" " + ELLIPSIS if cut_end else "")
    return Snippet(html=shown, text=text[a:b], cut_start=cut_start, cut_end=cut_end)
