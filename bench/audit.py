"""Audit the engine's claims on a built index, black-box, through the JSON API and the page.

Generated queries (real words of the corpus, pairs, longer queries, phrases, ``-word`` /
``NOT word``, ``OR``, ``title:``, date ranges, sources in any letter case) are asked in every
mode; every page is read, and each answer is checked against ``audit_truth.Corpus``, the
README's rules re-implemented from the stored paragraphs. Prints the violations per claim
(0 everywhere is the claim holding) and the first examples of each. Run from the repo root::

    .venv/bin/python bench/audit.py --index-dir /tmp/audit/ix-emb --queries 300
    .venv/bin/python bench/audit.py --index-dir IX --backend milvus --milvus-uri ix.db \\
        --truth IX_EMBEDDED   # Milvus answers checked against an embedded index's files
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import audit_more
import numpy as np
from audit_cases import make_cases
from audit_truth import Case, Corpus, terms
from common import REPO  # noqa: F401 - puts the repository on sys.path

from search.config import Settings
from search.query import meaning_text
from web import create_app

MARK = re.compile(r"</?mark>")
WHY = re.compile(
    r'<p class="why">Matched your words: (.*?)(?: \(in the title\))?(?: and close|\.</p>)'
)
CLAIMS = (
    "result_not_a_match",  # a listed article breaks the rules (words, operators, filters)
    "match_missing",  # a match (its near-duplicate group) is on no page
    "duplicate_result",  # an article listed twice across the pages
    "total_wrong",  # total != the number of matches (near-copies folded)
    "total_changes",  # total differs between pages or page sizes
    "page_order_differs",  # a page of one size is not the slice of the same ranking
    "last_page",  # the page past the last is not empty, or the last one is short/long
    "date_order",  # sort=date not newest first
    "facet_sum",  # a facet's rows (with "No source"/"No date") do not add up to total
    "facet_vs_listed",  # a facet row's count != the listed results with that value
    "facet_vs_filter",  # a facet row's count != total when filtering on that value, and
    # the filtered set is not the match set restricted to that value
    "facet_vs_filter_group",  # the same, explained by a near-duplicate group spanning values
    "collapsed_not_a_match",  # a near-copy folded into a result is not itself a match
    "highlight_not_text",  # highlighted minus <mark> is not the escaped text
    "mark_not_query_word",  # a <mark> around a word that is not a query word
    "why_word_not_held",  # "Matched your words" names a word the article does not hold
    "bad_request_not_400",  # an invalid parameter not answered 400 with a JSON error
    "hint_total",  # an empty answer's hint finds another number of articles than it says
    "cli_differs",  # newsearch search --json answers otherwise than the API
    "cli_bad_option",  # a bad CLI option is not one error line and a non-zero exit
)


class Auditor:
    def __init__(self, client, corpus: Corpus, embedder, examples: int = 3) -> None:
        self.client, self.corpus, self.embedder = client, corpus, embedder
        self.counts: Counter = Counter()
        self.checked: Counter = Counter()
        self.collapsed: Counter = Counter()  # why a folded near-copy is no match
        self.filter_causes: Counter = Counter()  # why filtering on a facet row finds more
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.keep = examples

    def bad(self, claim: str, case_text: str, detail: str) -> None:
        self.counts[claim] += 1
        if len(self.examples[claim]) < self.keep:
            self.examples[claim].append(f"{case_text!r}: {detail}")

    def get(self, params: dict, path: str = "/api/search"):
        resp = self.client.get(path, query_string=params)
        return resp.status_code, resp.get_json(silent=True), resp

    def params(self, c: Case, mode: str, **extra) -> dict:
        p = {"q": c.text, "mode": mode}
        if c.date_from:
            p["from"] = c.date_from
        if c.date_to:
            p["to"] = c.date_to
        if c.sources:
            p["source"] = list(c.sources)
        p.update(extra)
        return p

    def pages(self, c: Case, mode: str, limit: int, sort: str = "relevance", cap: int = 60):
        """(totals seen, results in page order, pages) reading every page of size ``limit``."""
        out, totals, pages, offset = [], set(), 0, 0
        while pages < cap:
            status, body, _ = self.get(self.params(c, mode, limit=limit, offset=offset, sort=sort))
            if status != 200:
                self.bad("bad_request_not_400", c.text, f"status {status} for a valid query")
                break
            totals.add(body["total"])
            out += body["results"]
            pages += 1
            if len(body["results"]) < limit or offset + limit >= body["total"]:
                if body["total"] > offset and len(body["results"]) != min(
                    limit, body["total"] - offset
                ):
                    self.bad("last_page", c.text, f"offset {offset}: {len(body['results'])}")
                past = self.params(c, mode, limit=limit, offset=offset + limit, sort=sort)
                if offset + limit <= 10_000 and self.get(past)[1]["results"]:
                    self.bad("last_page", c.text, f"a page past total {body['total']}")
                break
            offset += limit
        return totals, out, body

    def audit(self, c: Case, mode: str, rng: random.Random) -> None:
        qvec = None
        if mode != "keyword":
            qvec = self.embedder.encode_query(meaning_text(c.text))
        truth = self.corpus.decide(c, mode, qvec)
        self.current = (c, mode, qvec, truth)
        want = truth["set"]
        co = self.corpus
        key = f"[{mode}] {c.text} {c.date_from or ''}..{c.date_to or ''} {c.sources}"
        totals, results, first = self.pages(c, mode, 100)
        self.checked[mode] += 1
        if not first:
            return
        if first["total"] == 0:
            self.check_hints(c, mode, key, first)
        ids = [r["article_id"] for r in results]
        rows = [co.row_of[i] for i in ids]
        self.checked["results"] += len(ids)
        if len(totals) > 1:
            self.bad("total_changes", key, f"totals {sorted(totals)}")
        total = first["total"]
        wrong = [i for i, r in zip(ids, rows, strict=True) if not want[r]]
        if wrong:
            borderline = mode != "keyword" and co.near_threshold(
                [co.row_of[i] for i in wrong], truth["best"], truth["top"]
            )
            why = self.explain(c, truth, co.row_of[wrong[0]])
            detail = f"{len(wrong)} e.g. {wrong[0]} ({why}); int8-borderline={borderline}"
            self.bad("result_not_a_match", key, detail)
        if len(set(ids)) != len(ids):
            self.bad("duplicate_result", key, f"{len(ids) - len(set(ids))} repeated")
        groups = {co.group_of[r] for r in range(len(want)) if want[r]}
        shown = {co.group_of[r] for r in rows}
        missing = groups - shown
        if missing and total <= 10_000:
            r = next(r for r in range(len(want)) if want[r] and co.group_of[r] in missing)
            why = self.explain(c, truth, r)
            self.bad("match_missing", key, f"{len(missing)} e.g. {co.ids[r]} ({why})")
        if total != len(groups):
            self.bad("total_wrong", key, f"total {total}, rules {len(groups)}")
        for res in results:
            for d in res.get("duplicates", []):
                r = co.row_of[d]
                if not want[r]:
                    reason = (
                        "filtered out" if not co.passes_filters(r, c)
                        else "excluded/constrained" if not co.constrained(r, c)
                        else "too few words or too far in meaning"
                    )  # fmt: skip
                    self.collapsed[reason] += 1
                    detail = f"{d} folded into {res['article_id']}: {reason}"
                    self.bad("collapsed_not_a_match", key, detail)
                    break
        # another page size walks the same ranking
        size = rng.choice([1, 3, 7, 10, 25])
        offset = rng.randrange(0, max(1, min(total, 300)))
        status, body, _ = self.get(self.params(c, mode, limit=size, offset=offset))
        got = [r["article_id"] for r in body["results"]]
        if body["total"] != total:
            self.bad("total_changes", key, f"limit {size}: {body['total']} vs {total}")
        if got != ids[offset : offset + size]:
            self.bad("page_order_differs", key, f"limit {size} offset {offset}")
        self.check_facets(c, mode, key, first, results, want)
        self.check_marks(c, key, results)
        if rng.random() < 0.25:
            self.check_date_sort(c, mode, key, set(ids))
        if rng.random() < 0.2:
            self.check_page(c, mode, key)

    def check_hints(self, c: Case, mode: str, key: str, first: dict) -> None:
        """An empty answer's hints say how many articles each change would find: that many."""
        for h in first.get("hints", []):
            if h.get("total") is None:
                continue
            self.checked["hints"] += 1
            if h["kind"] == "filters":
                p = {"q": c.text, "mode": mode, "limit": 1}
            elif h["kind"] == "mode":
                p = self.params(c, h["mode"], limit=1)
            elif h["kind"] == "operators":  # the words without quotes, fields, exclusions
                words = [*c.words, *(w for ph in c.phrases for w in ph), *c.titles, *c.bodies]
                words += [f"{a}/{b}" for a, b in c.slashed]
                p = self.params(c, mode, limit=1)
                p["q"] = (" OR " if c.any_clause else " ").join(words)
                if h.get("text") != p["q"]:
                    self.bad("hint_total", key, f"operators hint says {h.get('text')!r}")
            else:
                continue
            status, body, _ = self.get(p)
            got = body["total"] if status == 200 else f"status {status}"
            if got != h["total"]:
                self.bad("hint_total", key, f"{h['kind']} hint says {h['total']}, gives {got}")

    def explain(self, c: Case, truth: dict, r: int) -> str:
        held, n = self.corpus.clauses_held(r, c)
        best = truth.get("best")
        cos = f", best cos {best[r]:.4f} (top {truth['top']:.4f})" if best is not None else ""
        return f"holds {held}/{n} clauses, constraints ok={bool(truth['ok'][r])}{cos}"

    def facet_miss(self, key: str, what: str, n: int, got: int, want, value_of, **filt) -> None:
        """A facet count ``n`` that filtering on it does not give (``got``): is it a
        near-duplicate group with members under several values, counted under one, or does
        the filter change the match set (the rules read the filtered set: the semantic cut
        relative to its best article, partial matches when it has < 10 keyword matches)?"""
        co = self.corpus
        groups = {co.group_of[r] for r in range(len(want)) if want[r] and value_of(r)}
        if got == len(groups):
            self.bad("facet_vs_filter_group", key, f"{what}: facet {n}, filtered {got}")
            return
        c, mode, qvec, truth = self.current
        narrowed = co.decide(dataclasses.replace(c, **filt), mode, qvec)
        extra = narrowed["set"] & ~want
        cause = "lost by the filter"
        if (extra & narrowed.get("semantic", extra) & ~truth.get("semantic", extra)).any():
            cause = "semantic cut relative to the filtered set's best"
        elif (extra & ~narrowed["keyword"]).any():
            cause = "partial/semantic matches the filtered set lets in"
        elif extra.any():
            cause = "keyword fallback"
        self.filter_causes[cause] += 1
        detail = f"{what}: facet {n}, filtered total {got}, groups {len(groups)}: {cause}"
        self.bad("facet_vs_filter", key, detail)

    def check_facets(self, c: Case, mode: str, key: str, first: dict, results: list,
                     want) -> None:  # fmt: skip
        co, total, facets = self.corpus, first["total"], first["facets"]
        unknown = {u["facet"]: u["count"] for u in facets.get("unknown", [])}
        srcs = {f["value"]: f["count"] for f in facets["source"]}
        months = {f["period"]: f["count"] for f in facets["date"]}
        src_sum = sum(srcs.values()) + unknown.get("source", 0)
        if not c.sources and len(srcs) < 20 and src_sum != total:
            self.bad("facet_sum", key, f"sources {srcs} + {unknown} != {total}")
        month_sum = sum(months.values()) + unknown.get("date", 0)
        if not (c.date_from or c.date_to) and month_sum != total:
            self.bad("facet_sum", key, f"months sum {sum(months.values())} + {unknown} != {total}")
        listed_src = Counter(r["source"] for r in results)
        listed_month = Counter((r["date"] or "")[:7] for r in results if r["date"])
        if not c.sources and total <= 10_000:
            for v, n in srcs.items():
                if listed_src[v] != n:
                    detail = f"source {v}: facet {n}, listed {listed_src[v]}"
                    self.bad("facet_vs_listed", key, detail)
        if not (c.date_from or c.date_to) and total <= 10_000:
            for m, n in months.items():
                if listed_month[m] != n:
                    detail = f"month {m}: facet {n}, listed {listed_month[m]}"
                    self.bad("facet_vs_listed", key, detail)
        for v, n in list(srcs.items())[:2]:
            self.checked["facet_rows_chosen"] += 1
            p = self.params(c, mode, limit=1)
            p["source"] = list(c.sources) + [v] if c.sources else [v]
            if c.sources and v.casefold() in {s.casefold() for s in c.sources}:
                p["source"] = list(c.sources)
            got = self.get(p)[1]["total"]
            if not c.sources:
                if got != n:
                    src = lambda r, v=v: co.articles[r].get("source") == v  # noqa: E731
                    self.facet_miss(key, f"source {v}", n, got, want, src, sources=(v,))
            elif p["source"] != list(c.sources) and got != total + n:  # what adding v brings
                more = dataclasses.replace(c, sources=(*c.sources, v))
                groups = {
                    co.group_of[r]
                    for r in np.flatnonzero(co.decide(more, mode, self.current[2])["set"])
                }
                claim = "facet_vs_filter_group" if got == len(groups) else "facet_vs_filter"
                self.bad(claim, key, f"adding source {v}: {total} + facet {n} != {got}")
        for m, n in sorted(months.items(), key=lambda kv: -kv[1])[:2]:
            self.checked["facet_rows_chosen"] += 1
            p = self.params(c, mode, limit=1)
            y, mo = int(m[:4]), int(m[5:7])
            end = f"{y + (mo == 12):04d}-{mo % 12 + 1:02d}-01"
            p["from"], p["to"] = f"{m}-01", _day_before(end)
            got = self.get(p)[1]["total"]
            if got != n:  # the month row is counted without the date filter, as clicking it
                month = lambda r, m=m: (co.articles[r].get("date") or "")[:7] == m  # noqa: E731
                span = {"date_from": p["from"], "date_to": p["to"]}
                base = want
                if c.date_from or c.date_to:
                    undated = dataclasses.replace(c, date_from=None, date_to=None)
                    base = co.decide(undated, mode, self.current[2])["set"]
                self.facet_miss(key, f"month {m}", n, got, base, month, **span)

    def check_marks(self, c: Case, key: str, results: list) -> None:
        wanted = c.positive_terms()
        for r in results[:20]:
            for p in r["paragraphs"]:
                h = p["highlighted"]
                plain = MARK.sub("", h)
                if html.unescape(plain) != p["text"] or re.search(r"[<>]", plain):
                    self.bad("highlight_not_text", key, f"{p['paragraph_id']}")
                for m in re.findall(r"<mark>(.*?)</mark>", h):
                    ts = terms(html.unescape(m))
                    if not ts or not set(ts) <= wanted:
                        detail = f"<mark>{m}</mark> in {p['paragraph_id']}"
                        self.bad("mark_not_query_word", key, detail)
                        break

    def check_date_sort(self, c: Case, mode: str, key: str, relevance_ids: set) -> None:
        _, results, _ = self.pages(c, mode, 100, sort="date")
        dates = [r["date"] or "" for r in results]
        dated = [d for d in dates if d]
        if dated != sorted(dated, reverse=True) or (dated and dates[: len(dated)] != dated):
            self.bad("date_order", key, f"{dates[:8]}")
        co = self.corpus
        groups = {co.group_of[co.row_of[r["article_id"]]] for r in results}
        if groups != {co.group_of[co.row_of[i]] for i in relevance_ids}:
            self.bad("date_order", key, "sort=date lists other articles than relevance")

    def check_page(self, c: Case, mode: str, key: str) -> None:
        """The page's "Matched your words": each word held by its article and a query word."""
        resp = self.client.get("/", query_string=self.params(c, mode))
        page = resp.get_data(as_text=True)
        wanted = c.positive_terms()
        for block in page.split('<li class="hit">')[1:]:
            m = re.search(r'href="/articles/([^"?]+)', block)
            why = WHY.search(block)
            if not (m and why):
                continue
            row = self.corpus.row_of.get(html.unescape(_unquote(m.group(1))))
            for w in html.unescape(why.group(1)).replace(" …", "").split(", "):
                ts = terms(w)
                if row is None or not ts or not all(t in self.corpus.all_terms[row] for t in ts):
                    self.bad("why_word_not_held", key, f"{w!r} for {m.group(1)}")
                elif not set(ts) & wanted:
                    self.bad("why_word_not_held", key, f"{w!r} is no query word ({m.group(1)})")


def _day_before(iso: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(iso) - timedelta(days=1)).isoformat()


def _unquote(s: str) -> str:
    from urllib.parse import unquote

    return unquote(s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--truth", type=Path, help="an embedded index of the same inputs")
    ap.add_argument("--backend", default="embedded", choices=["embedded", "milvus"])
    ap.add_argument("--milvus-uri", default="")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="keyword,semantic,hybrid")
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--cli", type=int, default=0, help="also ask the CLI this many queries")
    args = ap.parse_args(argv)
    truth_dir = args.truth or args.index_dir
    gen = truth_dir / (truth_dir / "CURRENT").read_text().strip()
    corpus = Corpus(gen)
    settings = Settings.from_env(index_dir=args.index_dir, backend=args.backend,
                                 milvus_uri=args.milvus_uri)  # fmt: skip
    app = create_app({"SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    assert client.get("/api/health").status_code == 200, "index not ready"
    from web import get_engine

    with app.app_context():
        engine = get_engine()
        embedder = engine.embedder
        # the thresholds of the index under test (a --truth index may record others)
        corpus.calibration = engine.calibration(engine.backend).to_dict()
    auditor = Auditor(client, corpus, embedder, args.examples)
    rng = random.Random(args.seed)
    cases = make_cases(corpus, args.queries, args.seed)
    modes = args.modes.split(",")
    for i, c in enumerate(cases):
        for mode in modes:
            auditor.audit(c, mode, rng)
        if sys.stderr.isatty():
            print(f"\r{i + 1}/{len(cases)}", end="", file=sys.stderr)
    audit_more.bad_requests(auditor)
    audit_more.front_page(auditor)
    if args.cli and args.backend == "milvus" and not args.milvus_uri.startswith("http"):
        print("--cli skipped: Milvus Lite opens a .db file in one process at a time")
    elif args.cli:
        backend = ["--backend", args.backend] + (
            ["--milvus-uri", args.milvus_uri] if args.milvus_uri else []
        )
        audit_more.cli(auditor, cases[: args.cli], args.index_dir, backend)
    print(f"index {args.index_dir} ({args.backend}); truth {gen}")
    print(f"queries {len(cases)} x modes {modes}; checked {dict(auditor.checked)}")
    print(f"query kinds {dict(Counter(c.kind for c in cases))}")
    for claim in CLAIMS:
        print(f"{claim:24s} {auditor.counts[claim]}")
        for e in auditor.examples[claim]:
            print(f"    {e}")
    print(f"collapsed near-copies that are no match, by reason: {dict(auditor.collapsed)}")
    print(f"facet_vs_filter by cause: {dict(auditor.filter_causes)}")
    return 1 if sum(auditor.counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
