"""``make bench``: every performance figure of issue #6 in one table, each next to a baseline
measured in the same run.

    .venv/bin/python bench/run.py --quick            # ~10k paragraphs, a few minutes
    .venv/bin/python bench/run.py                    # Reuters + BBC, ~100k paragraphs
    .venv/bin/python bench/run.py --skip build       # reuse the index from an earlier run

Sections: build (full, per stage, re-index, Whoosh writer options, alignment, size), query
latency in-process (legs vs bm25s / semantic_search, modes), the server over loopback
(start-up, HTTP latency, 8/32 clients, RSS). The corpora are read in place; indexes and the
converted model live under ``--work-dir`` (a temp dir by default), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPORA, Row, Table, query_set, subset_corpus  # noqa: E402

from search.config import Settings  # noqa: E402

SECTIONS = ("build", "query", "server")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="every 10th article (~10k paragraphs), shorter load runs",
    )
    ap.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "newsearch-bench"
    )
    ap.add_argument(
        "--backend",
        default=None,
        help="embedding backend (default: NEWSEARCH_EMBED_BACKEND or Settings)",
    )
    ap.add_argument("--skip", nargs="*", default=[], choices=SECTIONS)
    ap.add_argument("--queries", type=int, default=240, help="queries per mode (≥ 200)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)

    every = 10 if args.quick else 1
    work = args.work_dir / ("quick" if args.quick else "full")
    paths = subset_corpus(CORPORA, every, args.work_dir / "subsets")
    settings = Settings.from_env(index_dir=work / "index")
    if args.backend:
        settings = replace(settings, embed_backend=args.backend)
    os.environ["NEWSEARCH_EMBED_BACKEND"] = settings.embed_backend  # the server follows suit
    both = query_set(paths, 2 * args.queries)
    queries, warm = both[: args.queries], both[args.queries :]
    pool = query_set(paths, 5000, seed=11)  # load runs: rarely a repeated query
    print(
        f"corpus: {', '.join(map(str, paths))}; index {settings.index_dir}; "
        f"embedding backend {settings.embed_backend}; {len(queries)} queries",
        flush=True,
    )
    table = Table()
    t0 = time.perf_counter()

    def section(name: str, fn) -> None:
        """Run one section; a failure becomes a row, so the other sections still print."""
        print(f"{name} …", flush=True)
        try:
            table.rows += fn()
        except Exception as e:  # noqa: BLE001 - report and go on to the next section
            traceback.print_exc()
            table.add(name, "SECTION FAILED", None, "", baseline_what=f"{type(e).__name__}: {e}")
        print(table.render(), flush=True)  # progress: everything measured so far

    if "build" not in args.skip:
        import indexing

        section(
            "build",
            lambda: indexing.rows(
                paths,
                settings,
                sample_n=500 if args.quick else 2000,
                whoosh_limit=None if args.quick else 20_000,
            ),
        )

    rest = [x for x in ("query", "server") if x not in args.skip]
    if "build" not in args.skip and rest:
        # Queries are timed in a fresh process: the build leaves torch, OpenVINO and BLAS
        # thread pools behind that fight over the 2 cores (hybrid p50 measured 3× slower).
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            cmd = [sys.executable, __file__, "--json", tmp.name, "--work-dir", str(args.work_dir)]
            cmd += ["--queries", str(args.queries), "--backend", settings.embed_backend]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--skip", "build", *(x for x in SECTIONS if x in args.skip)]
            rc = subprocess.run(cmd).returncode
            try:
                table.rows += [
                    Row(**_row_fields(r)) for r in json.loads(Path(tmp.name).read_text())
                ]
            except (OSError, ValueError) as e:
                table.add("query/server", "SECTION FAILED", None, "", baseline_what=f"rc {rc}: {e}")
        args.skip += rest

    in_process: dict = {}
    if "query" not in args.skip or "server" not in args.skip:
        import latency

        def query_rows() -> list:
            from search.embed import embedder_for
            from search.engine import Engine

            engine = Engine.open(settings, embedder=embedder_for(settings))
            in_process.update(latency.engine_latency(engine, queries, warm))
            out = []
            if "query" not in args.skip:
                out = latency.rows(
                    engine, queries, warm, settings.depth, settings.embed_backend, in_process
                )
            engine.close()
            return out

        section("query latency (in-process)", query_rows)

    if "server" not in args.skip:
        import server

        section(
            "server",
            lambda: server.bench_server(
                settings.index_dir,
                queries,
                warm,
                pool,
                in_process,
                load_seconds=8 if args.quick else 20,
            ),
        )

    print(
        f"\n== newsearch bench ({'quick' if args.quick else 'full'}; "
        f"{time.perf_counter() - t0:.0f} s; backend {settings.embed_backend}; "
        f"{os.cpu_count()} cores, shared) =="
    )
    print(table.render())
    if args.json:
        args.json.write_text(json.dumps(table.to_json(), indent=2))
    return 0


def _row_fields(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "ratio"}


if __name__ == "__main__":
    sys.exit(main())
