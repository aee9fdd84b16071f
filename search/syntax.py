"""THE query syntax: the text a reader types, read once into a :class:`ParsedQuery`.

Every reader of the syntax reads this record rather than the text: the embedded keyword leg
(``keyword.py`` builds its Whoosh query from the clauses), the article-level clause rules
(``backends/keyword_articles.py``: quoted phrases and ``title:`` words are constraints, ``OR``
relaxes the match set), the semantic leg (:attr:`ParsedQuery.meaning`: the text without what
was excluded), backends with paragraph legs only (``backends/base.query_clauses``) and the
Milvus backend (``backends/milvus_query.py``: the same clauses as Milvus expressions).

The syntax (stated to users in ``query.search_parameters``): words, OR-ed and ranked;
``"a phrase"``; ``-word`` / ``-"a phrase"`` / ``NOT word`` (excluded); ``+word`` (required);
``a AND b``, ``a OR b``; ``title:word`` / ``text:word`` (one field); ``prefix*`` (3+ letters);
``a/b`` between words of 3+ letters (``Krone/Crown``, ``Mergers/Acquisitions``): alternatives,
the words ``a b`` that count as one clause for the match set and the article score
(:attr:`ParsedQuery.alternatives`; Whoosh would read it as the phrase "a b", which the text
seldom holds). It stays one word, that phrase, when it is a compound: a part with digits
(``1987/88``, ``9/11``), with a dot (``U.S./Canada``, ``www.bbc.co.uk/news``) or of 1–2 letters
(``TCP/IP``, ``AC/DC``); when a sign, a field or ``AND`` (before or after it: AND joins one
item) is attached; and in an advanced query (below), which Whoosh's full parser reads as typed,
so that every backend reads it alike. ``OR`` on either side keeps the alternatives (more OR).
A query typed all in capitals ("BORDER DISPUTE BETWEEN ISRAEL AND SYRIA .": cased upper-case
letters and no lower-case one outside the operator words) and sentence-like (at least
:data:`PROSE_WORDS` other words) cannot tell an operator from prose, so each ambiguous word
takes the reading that excludes nothing: ``AND`` and ``NOT`` are words there (stop words: a
reader listing topics does not mean "each in one paragraph" or "none of the rest"), ``OR``
still relaxes the match set (:attr:`ParsedQuery.prose`). A short one (``NATO NOT RUSSIA``) and
one in a script without case (``北京 NOT 上海``, ``2001 NOT 2002``) keep the operators.
Text beyond that (parentheses, other fields, ``~`` slop, single quotes, ``ANDNOT`` …) is marked
:attr:`ParsedQuery.advanced`: the embedded backend hands it to Whoosh's full parser as typed,
and the other readers take its clauses as read here. Nothing is analyzed (stemmed, stop words
dropped) here: that is each backend's own business. Pure Python, no imports beyond the standard
library, so the CLI and the web layer can read a query without loading an index.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["MIN_PREFIX", "PROSE_WORDS", "Clause", "ParsedQuery", "parse_syntax"]

MIN_PREFIX = 3  # "a*" would expand to every term in the index
# Words besides the operators that make an all-capitals query prose (TIME's queries have 5+);
# a shorter one ("NATO NOT RUSSIA", "BREXIT AND NOT JOHNSON") means its operators.
PROSE_WORDS = 4
FIELDS = ("title", "text")
_OPERATORS = ("AND", "OR", "NOT")
_ADVANCED_OPERATORS = ("ANDNOT", "ANDMAYBE", "REQUIRE")
# One item: an optional sign, an optional field, then a "phrase" or a word (up to whitespace).
_ITEM = re.compile(
    r'(?P<sign>[-+](?=\S))?(?:(?P<field>\w+):(?=\S))?(?:"(?P<phrase>[^"]*)"|(?P<word>\S+))'
)
_SPACE = re.compile(r"\s+")
_PROSE_OPERATOR = re.compile(r"\b(?:AND|NOT)\b")
# "Krone/Crown": words of letters (hyphens, apostrophes inside) joined by slashes. No digit
# (1987/88) and no dot (U.S./Canada, www.bbc.co.uk/news): those are one compound word.
_SLASHED = re.compile(r"[^\W\d_][\w'-]*(?:/[^\W\d_][\w'-]*)+")
_SLASH_PART = re.compile(r"[^/]+")
MIN_ALTERNATIVE = 3  # letters of each part: 'TCP/IP', 'AC/DC', 'km/h' are compounds


@dataclass(frozen=True)
class Clause:
    """One word or phrase of the query, with what the syntax around it says about it."""

    text: str  # the word or the phrase's words as typed (no sign, field, quotes or '*')
    phrase: bool = False  # written in double quotes
    field: str | None = None  # "title" / "text": searched in that field only
    prefix: bool = False  # word* (3+ letters): every word starting with it
    sign: str = ""  # "+" (+word: required), "-" (-word) or "NOT" (NOT word): excluded
    and_before: bool = False  # joined to the previous clause by AND
    or_before: bool = False  # joined to the previous clause by OR
    slash_before: bool = False  # 'a/b': an alternative to the previous clause
    span: tuple[int, int] = (0, 0)  # where it was typed, its sign or NOT included

    @property
    def negated(self) -> bool:
        """-word, -"phrase", NOT word: articles holding it are out."""
        return self.sign in ("-", "NOT")

    @property
    def syntax(self) -> str:
        """The clause alone, in the query syntax (no sign): ``word``, ``"a b"``, ``title:w``."""
        body = f'"{self.text}"' if self.phrase else self.text + ("*" if self.prefix else "")
        return f"{self.field}:{body}" if self.field else body


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # as typed (control characters and outer spaces already removed)
    clauses: tuple[Clause, ...] = ()
    says_or: bool = False  # an OR between spaces: any clause will do (relaxed match set)
    advanced: bool = False  # syntax beyond the documented set (see the module docstring)
    prose: bool = False  # typed all in capitals: AND / NOT are words (module docstring)

    @property
    def whoosh_text(self) -> str:
        """The text for Whoosh's full parser (advanced syntax): as typed, but in a prose query
        AND / NOT lower-cased, so that parser reads them as the words they are here too."""
        if not self.prose:
            return self.text
        return _PROSE_OPERATOR.sub(lambda m: m.group().lower(), self.text)

    @property
    def positive(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if not c.negated)

    @property
    def excluded(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.negated)

    @property
    def alternatives(self) -> tuple[tuple[str, ...], ...]:
        """The words of each slashed word ('Krone/Crown' -> ("Krone", "Crown")): each is its
        own word for the paragraph legs, and together one clause of the article evidence."""
        out: list[list[str]] = []
        for c in self.clauses:
            if c.slash_before and out:
                out[-1].append(c.text)
            else:
                out.append([c.text])
        return tuple(tuple(a) for a in out if len(a) > 1)

    @property
    def phrases(self) -> tuple[str, ...]:
        """The text of every quoted phrase, excluded ones too."""
        return tuple(c.text for c in self.clauses if c.phrase)

    @property
    def meaning(self) -> str:
        """What the semantic leg embeds: the text without its excluded clauses (as typed when
        nothing else is left). Excluded words are excluded per article by both legs; embedding
        them would pull the query vector *towards* them. Operators stay: they change TIME's
        all-caps queries ("ISRAEL AND SYRIA"), whose semantic figures were measured as typed."""
        out, at = [], 0
        for c in self.excluded:
            out.append(self.text[at : c.span[0]])
            at = c.span[1]
        out.append(self.text[at:])
        return " ".join(" ".join(out).split()) or self.text


def _tokens(text: str) -> list[re.Match]:
    """Each whitespace-separated item, phrases kept whole."""
    out, at = [], 0
    while True:
        space = _SPACE.match(text, at)
        if space:
            at = space.end()
        if at >= len(text):
            return out
        m = _ITEM.match(text, at)
        out.append(m)
        at = m.end()


def _is_prose(text: str) -> bool:
    """Typed all in capitals and sentence-like (module docstring): over the words besides the
    operators, a cased upper-case letter, no lower-case one and :data:`PROSE_WORDS` words."""
    words = [w for w in text.split() if w not in _OPERATORS and any(ch.isalnum() for ch in w)]
    letters = [ch for w in words for ch in w if ch.isalpha()]
    return (
        len(words) >= PROSE_WORDS
        and any(ch.isupper() for ch in letters)
        and not any(ch.islower() for ch in letters)
    )


def _joins(text: str, m: re.Match, operators: tuple[str, ...]) -> bool:
    """Item ``m`` is one of ``operators`` between spaces, joining its neighbours."""
    return (
        m.group("word") in operators
        and not m.group("field")
        and not m.group("sign")
        and m.start() > 0
        and text[m.start() - 1].isspace()
        and m.end() < len(text)
        and text[m.end()].isspace()
    )


def _alternatives(raw: str) -> list[re.Match] | None:
    """The parts of a slashed word read as alternatives ('Krone/Crown'), or None for one item:
    no digit, no dot and 3+ letters in each part (module docstring)."""
    if not _SLASHED.fullmatch(raw) or any(ch.isdigit() for ch in raw):
        return None
    parts = list(_SLASH_PART.finditer(raw))
    if any(sum(ch.isalpha() for ch in p.group()) < MIN_ALTERNATIVE for p in parts):
        return None
    return parts


@functools.lru_cache(maxsize=4096)
def parse_syntax(text: str) -> ParsedQuery:
    """The query ``text`` read once (cached: every reader of one query gets this same record)."""
    parsed = _read(text, split=True)
    if parsed.advanced and any(c.slash_before for c in parsed.clauses):
        # Whoosh's full parser reads the typed text (a/b: the phrase "a b"); so do the others.
        return _read(text, split=False)
    return parsed


def _read(text: str, split: bool) -> ParsedQuery:
    """``text`` read into clauses; ``split``: slashed words may become alternatives."""
    clauses: list[Clause] = []
    advanced = says_or = False
    prose = _is_prose(text)
    operators = ("OR",) if prose else ("AND", "OR")
    pending_not: int | None = None  # start of a NOT that negates the next clause
    joiner: str | None = None  # AND / OR waiting for the next clause
    prev_end = -1
    items = _tokens(text)
    for n, m in enumerate(items):
        word, phrase, fld, sign = m.group("word", "phrase", "field", "sign")
        glued = m.start() == prev_end  # no space since the last item: 'a"b"'
        prev_end = m.end()
        if word is not None and not fld and not sign:
            if word == "OR":
                says_or = True
            if _joins(text, m, operators):
                if joiner or pending_not is not None or not clauses:
                    advanced = True
                joiner = word
                continue
            spaced_after = m.end() < len(text) and text[m.end()].isspace()
            if word == "NOT" and spaced_after and not prose:
                if pending_not is not None:
                    advanced = True
                pending_not = m.start()
                continue
            if word in _ADVANCED_OPERATORS:
                advanced = True
        if glued or "(" in m.group() or ")" in m.group() or "'" in m.group()[:1]:
            advanced = True
        raw = phrase if phrase is not None else word
        if fld is not None and fld not in FIELDS:
            advanced = True
            raw = f"{fld}:{raw}" if phrase is None else raw  # 'source:BBC' stays one word
        prefix = False
        if phrase is None:
            if raw.startswith('"') or "~" in raw or "*" in raw.rstrip("*") or raw.count("*") > 1:
                advanced = True  # an open quote, slop, wildcards
            if raw.endswith("*") and len(raw) > 1:
                prefix = len(raw) - 1 >= MIN_PREFIX
                advanced |= not prefix  # "ab*": Whoosh decides (the plain words, in the end)
                raw = raw[:-1] if prefix else raw
        elif m.end() < len(text) and text[m.end()] == "~":
            advanced = True
        if pending_not is not None and sign:
            advanced = True  # 'NOT -word'
        if joiner and (sign or pending_not is not None or (clauses and clauses[-1].sign)):
            advanced = True  # 'a AND -b', '+a OR b': Whoosh's operator rules decide
        and_after = n + 1 < len(items) and _joins(text, items[n + 1], ("AND",)) and not prose
        parts = (
            _alternatives(raw)
            if split
            and phrase is None
            and not (sign or fld or prefix or pending_not is not None)
            and joiner != "AND"
            and not and_after  # 'a/b AND c': AND joins one item, not the last alternative
            else None
        )
        if parts is not None:
            for i, part in enumerate(parts):  # alternatives (docstring); OR before: more OR
                at, word = m.start() + part.start(), part.group()
                clauses.append(
                    Clause(
                        text=word,
                        or_before=i == 0 and joiner == "OR",
                        slash_before=i > 0,
                        span=(at, at + len(word)),
                    )
                )
            joiner = None
            continue
        clauses.append(
            Clause(
                text=raw,
                phrase=phrase is not None,
                field=fld if fld in FIELDS else None,
                prefix=prefix,
                sign="NOT" if pending_not is not None else sign or "",
                and_before=joiner == "AND",
                or_before=joiner == "OR",
                span=(m.start() if pending_not is None else pending_not, m.end()),
            )
        )
        pending_not = joiner = None
    if joiner or pending_not is not None:
        advanced = True
    return ParsedQuery(text, tuple(clauses), says_or, advanced, prose)
