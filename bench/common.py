"""Shared bench helpers: corpus paths, corpus subsets, query sets, percentiles, the result table.

Benchmarks print numbers, they never assert: every figure sits next to a baseline measured in
the same run, because this machine is shared and absolute timings drift.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/run.py` from the repo root
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = REPO.parent / "shared" / "data"
CORPORA = [DATA / "reuters21578" / "docs.jsonl", DATA / "bbc" / "docs.jsonl"]
TIME_DOCS = DATA / "time" / "docs.jsonl"
TIME_QUERIES = DATA / "time" / "queries_dev.jsonl"
TIME_QRELS = DATA / "time" / "qrels_dev.tsv"
REUTERS_QUERIES = DATA / "reuters21578" / "queries_topics.jsonl"


def subset_corpus(paths: Iterable[Path], every: int, out_dir: Path) -> list[Path]:
    """Every ``every``-th article of each corpus, written under ``out_dir`` (a temp dir).

    ``--quick`` uses this: a spread sample keeps the mix of short wire items and long features.
    The files stay outside the repository (the data's licence forbids copying it in).
    """
    if every <= 1:
        return [Path(p) for p in paths]
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        dest = out_dir / f"{Path(p).parent.name}-every{every}.jsonl"
        if not dest.exists():
            with open(p, encoding="utf-8") as src, open(dest, "w", encoding="utf-8") as dst:
                for i, line in enumerate(src):
                    if i % every == 0:
                        dst.write(line)
        out.append(dest)
    return out


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def query_set(paths: Iterable[Path], n: int = 240, seed: int = 7) -> list[str]:
    """``n`` varied, realistic queries, the same every run.

    Mixes category names (Reuters topics), long natural-language questions (TIME dev), 2–4
    word pieces of real titles, single rare-ish words, and the syntax users type (phrases,
    ``NOT``, ``-word``, ``title:``, ``prefix*``), so neither leg sees only easy queries.
    """
    rng = random.Random(seed)
    fixed = [r["text"] for p in (REUTERS_QUERIES, TIME_QUERIES) if p.exists() for r in _jsonl(p)]
    fixed = [q.lower() if q.isupper() else q for q in fixed]
    titles = []
    for p in paths:
        for rec in _jsonl(Path(p)):
            words = [w.strip(".,:;'\"()") for w in str(rec.get("title") or "").split()]
            words = [w for w in words if len(w) > 2 and w.isalpha()]
            if len(words) >= 2:
                titles.append(words)
    rng.shuffle(titles)
    made: list[str] = []
    for i, words in enumerate(titles):
        if len(made) >= max(0, n - len(fixed)):
            break
        k = min(len(words), 2 + i % 3)
        start = rng.randrange(0, len(words) - k + 1)
        piece = words[start : start + k]
        kind = i % 10
        if kind == 0:
            made.append(f'"{piece[0]} {piece[1]}"'.lower())
        elif kind == 1 and len(piece) >= 2:
            made.append(f"{piece[0]} NOT {piece[-1]}".lower())
        elif kind == 2:
            made.append(f"title:{piece[0].lower()}")
        elif kind == 3 and len(piece[0]) >= 5:
            made.append(f"{piece[0][:4].lower()}*")
        elif kind == 4:
            made.append(piece[0].lower())
        elif kind == 5 and len(piece) >= 2:
            made.append(f"{piece[0]} -{piece[-1]}".lower())
        else:
            made.append(" ".join(piece))
    queries = fixed + made
    rng.shuffle(queries)
    return queries[:n]


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def latency_summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50": pct(ms, 50),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def dir_size(path: Path) -> int:
    """Bytes of all regular files under ``path``."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


@dataclass
class Row:
    """One line of the result table: a figure, its baseline, and the target if there is one."""

    section: str
    what: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    target: str = ""
    ok: bool | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row

    def render(self) -> str:
        head = ["section", "measure", "value", "baseline (same run)", "ratio", "target", "ok"]
        lines = []
        for r in self.rows:
            lines.append(
                [
                    r.section,
                    r.what,
                    _fmt(r.value, r.unit),
                    f"{_fmt(r.baseline, r.unit)} {r.baseline_what}".strip()
                    if r.baseline is not None
                    else (r.baseline_what or "—"),
                    f"{r.ratio:.2f}×" if r.ratio is not None else "",
                    r.target,
                    {True: "yes", False: "NO", None: ""}[r.ok],
                ]
            )
        widths = [
            max(len(h), *(len(x[i]) for x in lines)) if lines else len(h)
            for i, h in enumerate(head)
        ]
        out = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
        out.append("-+-".join("-" * w for w in widths))
        out += [" | ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in lines]
        notes = [f"  * {r.what}: {r.note}" for r in self.rows if r.note]
        return "\n".join(out + (["", "notes:"] + notes if notes else []))

    def to_json(self) -> list[dict]:
        return [{**r.__dict__, "ratio": r.ratio} for r in self.rows]


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "MiB" or unit == "s":
        return f"{v:,.1f} {unit}"
    if unit == "ms":
        return f"{v:,.2f} {unit}" if v < 10 else f"{v:,.1f} {unit}"
    if unit in ("para/s", "req/s", "q/s"):
        return f"{v:,.0f} {unit}" if v >= 100 else f"{v:,.1f} {unit}"
    if unit == "":
        return f"{v:.4f}"
    return f"{v:,.3g} {unit}"
