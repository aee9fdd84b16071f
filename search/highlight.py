"""Highlighting built from escaped text: every piece of the paragraph is HTML-escaped, and only
our own ``<mark>`` tags are added between escaped pieces, so article text can never inject markup.
"""

from __future__ import annotations

import html

from .keyword import term_spans


def highlight(text: str, terms: frozenset[str]) -> str:
    """``text`` escaped for HTML, with tokens matching ``terms`` wrapped in ``<mark>``."""
    out: list[str] = []
    pos = 0
    for start, end in term_spans(text, terms):
        out.append(html.escape(text[pos:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)
