"""Index build: total time, paragraphs/s per stage, embedding vs plain sentence-transformers,
re-index of an unchanged corpus, Whoosh writer options, row alignment, size on disk.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import Row, dir_size

from search.config import Settings


def build(paths: Sequence[Path], settings: Settings) -> Any:
    from search.build import build_index

    return build_index(list(paths), settings, progress=False)


def check_alignment(gen_dir: Path, settings: Settings, sample: int = 200) -> str:
    """Whoosh ``row`` i must be paragraph i must be vector i; returns a one-line verdict.

    Every stored row is checked to be a permutation of 0..N-1, then ``sample`` paragraphs are
    looked up by a phrase of their own text and must come back as their own row.
    """
    from whoosh import index as windex
    from whoosh.query import Phrase

    from search.generation import Generation

    gen = Generation.open(gen_dir, settings, verify=False)
    ix = windex.open_dir(str(gen_dir / "whoosh"))
    with ix.searcher() as s:
        rows = sorted(d["row"] for d in s.all_stored_fields())
        n = len(gen.paragraphs)
        if rows != list(range(n)):
            return f"MISALIGNED: whoosh rows are not 0..{n - 1}"
        rng = random.Random(3)
        from search.keyword import analyze

        bad = checked = 0
        for r in rng.sample(range(n), min(sample, n)):
            words = analyze(gen.paragraphs[r]["text"])[:6]
            if len(words) < 4:
                continue
            checked += 1
            hits = s.search(Phrase("text", words), limit=None)
            if r not in {h["row"] for h in hits}:
                bad += 1
    vec_ok = len(gen.vectors) == n
    gen.close()
    if bad or not vec_ok:
        return f"MISALIGNED: {bad}/{checked} phrase look-ups missed their row; vectors ok={vec_ok}"
    return f"aligned ({n} rows; {checked} phrase look-ups found their own row)"


def whoosh_writers(gen_dir: Path, settings: Settings, limit: int | None = None) -> dict[str, Any]:
    """Keyword indexing alone with Whoosh writer options, on the generation's own paragraphs."""
    from whoosh import index as windex

    from search.keyword import make_schema
    from search.layout import ARTICLES, PARAGRAPHS, read_jsonl

    articles = read_jsonl(gen_dir / ARTICLES)
    paras = read_jsonl(gen_dir / PARAGRAPHS)[:limit]
    out: dict[str, Any] = {"paragraphs": len(paras)}
    options = {
        "single writer (as built)": {"limitmb": 256},
        "procs=2": {"procs": 2, "limitmb": 128},
        "procs=2 multisegment": {"procs": 2, "limitmb": 128, "multisegment": True},
    }
    for name, kw in options.items():
        tmp = Path(tempfile.mkdtemp(prefix="nsb-whoosh-"))
        try:
            t = time.perf_counter()
            ix = windex.create_in(str(tmp), make_schema(settings.title_boost))
            w = ix.writer(**kw)
            for i, p in enumerate(paras):
                a = articles[p["article"]]
                w.add_document(
                    row=i,
                    article=a["id"],
                    title=a["title"],
                    text=p["text"],
                    source=a.get("source") or "",
                    date=a.get("date") or "",
                )
            w.commit()
            secs = time.perf_counter() - t
            with windex.open_dir(str(tmp)).searcher() as s:
                rows = sorted(d["row"] for d in s.all_stored_fields())
            out[name] = {"seconds": secs, "aligned": rows == list(range(len(paras)))}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def embed_vs_plain(gen_dir: Path, settings: Settings, n: int) -> dict[str, Any]:
    """Our embedder vs plain ``SentenceTransformer.encode`` on the same ``n`` indexed paragraphs
    (a spread random sample), interleaved twice, best of two each; plus cosine agreement."""
    from sentence_transformers import SentenceTransformer

    from search.embed import embedder_for, model_path
    from search.layout import PARAGRAPHS, read_jsonl

    paras = read_jsonl(gen_dir / PARAGRAPHS)
    texts = [p["text"] for p in random.Random(5).sample(paras, min(n, len(paras)))]
    ours = embedder_for(settings)
    plain = SentenceTransformer(str(model_path(settings.model_name)), device="cpu")

    def base(ts: list[str]) -> np.ndarray:
        return plain.encode(ts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    base(texts[:32])
    ours.encode(texts[:32])
    tb = te = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        ref = base(texts)
        tb = min(tb, time.perf_counter() - t)
        t = time.perf_counter()
        vec = ours.encode(texts)
        te = min(te, time.perf_counter() - t)
    cos = (ref * vec).sum(axis=1)
    return {
        "n": len(texts),
        "ours": len(texts) / te,
        "plain": len(texts) / tb,
        "cos_mean": float(cos.mean()),
        "cos_min": float(cos.min()),
    }


def rows(
    paths: Sequence[Path], settings: Settings, sample_n: int, whoosh_limit: int | None
) -> list[Row]:
    """Full build, re-index, and the build-side comparisons, as table rows."""
    from search import store

    index_dir = Path(settings.index_dir)
    models = index_dir / "models"
    keep = None
    if models.exists():  # an export cached by an earlier run: keep it, drop the generations
        keep = Path(tempfile.mkdtemp(prefix="nsb-models-")) / "models"
        shutil.move(str(models), keep)
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    if keep is not None:
        shutil.move(str(keep), models)
    out: list[Row] = []
    rep = build(paths, settings)
    n = rep.paragraphs
    tm = rep.timings
    gen_dir = store.current_generation(index_dir)
    print(
        f"  full build: {rep.summary()}; timings { ({k: round(v, 1) for k, v in tm.items()}) }",
        flush=True,
    )
    cmp = embed_vs_plain(gen_dir, settings, sample_n)
    print(f"  embedding sample: {cmp}", flush=True)
    out.append(
        Row(
            "build",
            f"full build, {n:,} paragraphs",
            rep.seconds,
            "s",
            n / cmp["plain"],
            "plain ST.encode alone (estimated at sample speed)",
            target="≤ 600 s",
            ok=rep.seconds <= 600,
            note="stages " + ", ".join(f"{k} {v:.1f} s" for k, v in tm.items()),
        )
    )
    parse_s = tm.get("parse", 0) + tm.get("split", 0)
    out.append(
        Row(
            "build",
            "parse + split",
            n / parse_s,
            "para/s",
            higher_is_better=True,
            note=f"{parse_s:.1f} s",
        )
    )
    out.append(
        Row(
            "build",
            "keyword indexing (Whoosh)",
            n / tm["keyword"],
            "para/s",
            higher_is_better=True,
            note=f"{tm['keyword']:.1f} s",
        )
    )
    embed_s = tm["embed"]
    out.append(
        Row(
            "build",
            f"embedding in build ({settings.embed_backend})",
            rep.embedded / embed_s if embed_s > 0 else None,
            "para/s",
            cmp["plain"],
            f"plain ST.encode fp32 on a {cmp['n']}-paragraph sample",
            higher_is_better=True,
        )
    )
    out.append(
        Row(
            "build",
            f"embedding, same {cmp['n']} paragraphs ({settings.embed_backend})",
            cmp["ours"],
            "para/s",
            cmp["plain"],
            "plain ST.encode fp32",
            target="≥ 2.5×",
            ok=cmp["ours"] >= 2.5 * cmp["plain"],
            higher_is_better=True,
            note=f"cosine to fp32 mean {cmp['cos_mean']:.4f}, min {cmp['cos_min']:.4f}",
        )
    )
    again = build(paths, settings)
    print(f"  re-index: {again.summary()}", flush=True)
    out.append(
        Row(
            "build",
            "re-index, unchanged corpus",
            again.seconds,
            "s",
            rep.seconds,
            "full build",
            target="≤ 5% of full",
            ok=again.seconds <= 0.05 * rep.seconds,
            note=f"{again.embedded} re-embedded, {again.reused} reused; stages "
            + ", ".join(f"{k} {v:.1f} s" for k, v in again.timings.items()),
        )
    )
    from search.build import is_stale

    t = time.perf_counter()
    stale = is_stale(list(paths), settings)
    check_s = time.perf_counter() - t
    out.append(
        Row(
            "build",
            "`index --if-stale`, unchanged inputs",
            check_s,
            "s",
            rep.seconds,
            "full build",
            target="≤ 5% of full",
            ok=(not stale) and check_s <= 0.05 * rep.seconds,
            note="stale?! it would rebuild" if stale else "up to date: nothing rebuilt",
        )
    )
    gen_dir = store.current_generation(index_dir)
    verdict = check_alignment(gen_dir, settings)
    out.append(
        Row(
            "build",
            "row alignment whoosh/paragraphs/vectors",
            None,
            "",
            baseline_what=verdict,
            ok=verdict.startswith("aligned"),
        )
    )
    ww = whoosh_writers(gen_dir, settings, whoosh_limit)
    base = ww["single writer (as built)"]["seconds"]
    for name, r in ww.items():
        if name == "paragraphs" or name.startswith("single"):
            continue
        out.append(
            Row(
                "build",
                f"Whoosh {name}, {ww['paragraphs']:,} paragraphs",
                r["seconds"],
                "s",
                base,
                "single writer",
                ok=r["aligned"] or None,
                note="rows aligned" if r["aligned"] else "ROWS MISALIGNED",
            )
        )
    size = dir_size(gen_dir) / 2**20
    corpus = sum(Path(p).stat().st_size for p in paths) / 2**20
    parts = {
        "vectors": (gen_dir / "vectors.npy").stat().st_size / 2**20,
        "whoosh": dir_size(gen_dir / "whoosh") / 2**20,
    }
    model_mib = dir_size(models) / 2**20 if models.exists() else 0.0
    out.append(
        Row(
            "index",
            "generation size on disk",
            size,
            "MiB",
            corpus,
            "input JSONL",
            note=", ".join(f"{k} {v:.0f} MiB" for k, v in parts.items())
            + f"; exported model cache {model_mib:.0f} MiB (outside the generation)",
        )
    )
    return out
