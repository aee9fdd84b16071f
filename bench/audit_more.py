"""The audit's checks outside one query's answer: the front page (``q=`` with
``sort=date``), the CLI against the API, and bad requests (``bench/audit.py``)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from audit_truth import Case

if TYPE_CHECKING:
    from audit import Auditor


def front_page(self: Auditor, tries: int = 20) -> None:
    """``q=`` with ``sort=date``: every live article passing the filters, newest first."""
    co, rng = self.corpus, random.Random(1)
    dates = sorted({(a.get("date") or "")[:10] for a in co.articles if a.get("date")})
    sources = sorted({a["source"] for a in co.articles if a.get("source")})
    for i in range(tries):
        c = Case("front")
        if i % 2:
            c.date_from, c.date_to = sorted(rng.sample(dates, 2))
        if i % 3 == 0:
            c.sources = (rng.choice(sources).upper(),)
        want = {co.group_of[r] for r in range(len(co.ids)) if co.passes_filters(r, c)}
        params = {"q": "", "sort": "date", "limit": 100}
        if c.date_from:
            params.update({"from": c.date_from, "to": c.date_to})
        if c.sources:
            params["source"] = list(c.sources)
        got, offset = [], 0
        while True:
            status, body, _ = self.get({**params, "offset": offset})
            got += body["results"]
            offset += 100
            if offset >= body["total"] or offset > 10_000:
                break
        self.checked["front_pages"] += 1
        key = f"[front] {params}"
        if body["total"] != len(want):
            self.bad("total_wrong", key, f"total {body['total']}, live and passing {len(want)}")
        rows = [co.row_of[r["article_id"]] for r in got]
        if {co.group_of[r] for r in rows} != want or len(rows) != len(set(rows)):
            self.bad("match_missing", key, f"listed {len(rows)}, want {len(want)}")
        if any(not co.passes_filters(r, c) for r in rows):
            self.bad("result_not_a_match", key, "an article outside the filters")
        dated = [r["date"] for r in got if r["date"]]
        if dated != sorted(dated, reverse=True):
            self.bad("date_order", key, "not newest first")


def cli(self: Auditor, cases: list[Case], index_dir: Path, backend: list[str]) -> None:
    """``newsearch search --json`` says what the API says; a bad option is one ``Error:`` line
    (under click's usage lines) and exit status 2, never a traceback."""
    exe = str(Path(sys.executable).parent / "newsearch")
    base = [exe, "search", "--index-dir", str(index_dir), *backend, "--json"]
    for c in cases:
        mode = random.Random(c.text).choice(["keyword", "semantic", "hybrid"])
        args = [*base, c.text, "--mode", mode, "--limit", "7"]
        if c.date_from:
            args += ["--from", c.date_from]
        if c.date_to:
            args += ["--to", c.date_to]
        for src in c.sources:
            args += ["--source", src]
        out = subprocess.run(args, capture_output=True, text=True, timeout=600)
        _, api, _ = self.get(self.params(c, mode, limit=7))
        self.checked["cli"] += 1
        key = f"[cli {mode}] {c.text}"
        if out.returncode != 0:
            self.bad("cli_differs", key, f"rc {out.returncode}: {out.stderr[-200:]}")
            continue
        got = json.loads(out.stdout)
        same = [r["article_id"] for r in got["results"]] == [
            r["article_id"] for r in api["results"]
        ]
        if got["total"] != api["total"] or not same or got["facets"] != api["facets"]:
            self.bad("cli_differs", key, f"total {got['total']} vs API {api['total']}")
    for bad in (["--limit", "0"], ["--from", "1987-02-30"], ["--mode", "fuzzy"],
                ["--offset", "-1"], ["--sort", "price"], ["--recency", "nan"]):  # fmt: skip
        out = subprocess.run([*base, "oil", *bad], capture_output=True, text=True)
        self.checked["cli_bad"] += 1
        errors = [x for x in out.stderr.splitlines() if x.startswith("Error: ")]  # click's usage
        if out.returncode != 2 or len(errors) != 1 or "Traceback" in out.stderr:
            self.bad("cli_bad_option", str(bad), f"rc {out.returncode}: {out.stderr[-200:]}")


def bad_requests(self: Auditor) -> None:
    cases = [
        {"q": "oil", "limit": "0"},
        {"q": "oil", "limit": "101"},
        {"q": "oil", "limit": "x"},
        {"q": "oil", "offset": "-1"},
        {"q": "oil", "offset": "10001"},
        {"q": "oil", "mode": "fuzzy"},
        {"q": "oil", "sort": "price"},
        {"q": "oil", "from": "1987-13-01"},
        {"q": "oil", "from": "1987-02-30"},
        {"q": "oil", "from": "1987-03-02", "to": "1987-03-01"},
        {"q": "oil", "to": "tomorrow"},
        {"q": "oil", "recency": "-3"},
        {"q": "oil", "recency": "nan"},
        {"q": "oil", "recency": "inf"},
        {"q": "x" * 1001},
        {"q": ""},
        {"q": "oil", "limit": "1e2"},
        {"q": "oil", "offset": "１"},
        {"q": "oil", "source": "x" * 500},
        {"q": "oil", "limit": ["3", "4"]},
        {"q": "oil", "from": "+1987-03-01"},
        {"q": "oil", "from": "1987-3-1"},
    ]
    for params in cases:
        status, body, _ = self.get(params)
        self.checked["bad_requests"] += 1
        if status != 400 or not (body and "error" in body and body["error"].get("message")):
            self.bad("bad_request_not_400", str(params)[:80], f"status {status}")
