"""Progress for long commands: a tqdm bar on a terminal, a plain line now and then in a log.

A bar redraws itself with ``\\r``, which in a log file becomes one ever-growing line; when
stderr is not a terminal, ``bar`` writes ``embedding: 5,000/10,492 para (48%)`` every
``LOG_EVERY`` seconds (and once at the end of a step that printed any) instead. ``plural``
words the summaries.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

LOG_EVERY = 15.0  # seconds between plain progress lines


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 article``, ``2 articles``, ``1,204 paragraphs``."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


class _Lines:
    """The part of tqdm's interface the builder uses, as periodic plain lines."""

    def __init__(
        self, iterable: Iterable[Any] | None, total: int | None, desc: str, unit: str, out: TextIO
    ) -> None:
        self._iterable, self.total, self._desc, self._unit, self._out = (
            iterable,
            total,
            desc,
            unit,
            out,
        )
        self.n = 0
        self._last = time.monotonic()
        self._closed = False
        self._shown = -1  # the count last printed

    def _line(self) -> None:
        done = f"{self.n:,}" + (f"/{self.total:,}" if self.total else "")
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        print(f"{self._desc}: {done} {self._unit}{pct}", file=self._out, flush=True)
        self._shown = self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= LOG_EVERY:
            self._last = now
            self._line()

    def close(self) -> None:
        if not self._closed and 0 <= self._shown != self.n:  # a long step: say it finished
            self._line()
        self._closed = True

    def __iter__(self) -> Iterator[Any]:
        assert self._iterable is not None
        for item in self._iterable:
            yield item
            self.update()
        self.close()


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str,
    enabled: bool,
    out: TextIO | None = None,
) -> Any:
    """A progress reporter over ``iterable`` (or ``update``/``close`` by hand): tqdm when
    ``out`` (stderr) is a terminal, plain periodic lines otherwise, silent when not enabled."""
    out = out or sys.stderr
    if enabled and not out.isatty():
        return _Lines(iterable, total, desc, unit, out)
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, file=out)
