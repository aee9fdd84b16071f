"""What an embedding backend costs in relevance: nDCG@10 on the TIME dev judgments.

    .venv/bin/python bench/embed_quality.py                       # torch vs openvino-int8
    .venv/bin/python bench/embed_quality.py --backends torch openvino openvino-int8

For each backend the TIME corpus is indexed with that backend's document vectors and queried
with the same backend's query vectors (``search/evaluate.py`` does the scoring, so the numbers
are those of ``newsearch eval``); "docs X + torch queries" shows an engine that still encodes
queries in fp32. The bar (issue #6): lose at most 1% nDCG@10 against torch fp32.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TIME_DOCS, TIME_QRELS, TIME_QUERIES  # noqa: E402

from search import evaluate as ev  # noqa: E402
from search.config import Settings  # noqa: E402
from search.embed import BACKENDS, embedder_for  # noqa: E402
from search.engine import Engine  # noqa: E402


def evaluate_backends(backends: list[str], work: Path) -> dict[str, dict[str, dict]]:
    queries, qrels = ev.load_queries(TIME_QUERIES), ev.load_qrels(TIME_QRELS)
    docs = [TIME_DOCS]
    out: dict[str, dict[str, dict]] = {}
    torch_settings = replace(Settings.from_env(), embed_backend="torch")
    torch_embedder = None
    for backend in backends:
        settings = replace(
            torch_settings, embed_backend=backend, index_dir=work / f"time-{backend}"
        )
        rep = ev.ensure_index(docs, settings, progress=False)
        if rep is not None:
            print(f"  {backend}: {rep.summary()}", file=sys.stderr, flush=True)
        emb = embedder_for(settings)
        out[backend] = ev.evaluate(Engine.open(settings, embedder=emb), queries, qrels)
        if backend != "torch":
            torch_embedder = torch_embedder or embedder_for(torch_settings)
            out[f"docs {backend} + torch queries"] = ev.evaluate(
                Engine.open(settings, embedder=torch_embedder), queries, qrels
            )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["torch", "openvino-int8"], choices=BACKENDS)
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/newsearch-bench/quality"))
    args = ap.parse_args(argv)
    if "torch" not in args.backends:
        args.backends.insert(0, "torch")
    res = evaluate_backends(args.backends, args.work_dir)
    ref = res["torch"]
    print(f"{'backend':40s} {'mode':9s} {'nDCG@10':>8s} {'vs torch':>9s} {'MAP':>7s} {'R@100':>7s}")
    for name, modes in res.items():
        for mode, m in modes.items():
            delta = (m["ndcg@10"] / ref[mode]["ndcg@10"] - 1) * 100 if ref[mode]["ndcg@10"] else 0
            print(
                f"{name:40s} {mode:9s} {m['ndcg@10']:8.4f} {delta:+8.2f}% {m['map']:7.4f} "
                f"{m['recall@100']:7.4f}"
            )


if __name__ == "__main__":
    main()
