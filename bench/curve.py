"""``make bench``: the cost curve with the defaults, each figure next to a same-run baseline.

    .venv/bin/python bench/curve.py                        # BBC + 10k, 100k, 300k paragraphs
    .venv/bin/python bench/curve.py --sizes 10000          # one point
    .venv/bin/python bench/curve.py --skip bbc             # only the curve

For each size, a corpus of that many paragraphs is cut from the shared corpora (Reuters-21578,
BBC, AG News test, Wikinews; once they run out they repeat with fresh ids, so from ~114k
paragraphs up the extra articles are exact copies: the build embeds each distinct text once and
near-duplicate grouping sees them). Then, each step in a fresh process with the defaults (no
flags, no extras):

* build — ``build_index`` from scratch; baseline: plain ``SentenceTransformer.encode`` (fp32,
  batch 64) of a paragraph sample of the same index, timed in the same run and scaled to N;
* in-process hybrid p50/p99 over the bench queries; baseline: the same index queried the
  pre-#14 way (torch fp32 query embedding, exact fp32 scan), in its own process right after;
* the server (``newsearch serve`` on 127.0.0.1:``--port``): start-up to first hybrid answer,
  HTTP p50/p99 with one client, peak RSS; baseline: a plain SentenceTransformer load + one
  encode in a fresh process (seconds, RSS);
* index size; baseline: the input JSONL.

``bbc``: the BBC corpus built by ``newsearch index`` with an empty model cache, so the one-off
export is included, against plain ``encode`` of the same paragraphs (target ≤ 0.4×).

Built corpora and indexes are kept under ``--work-dir`` and reused when present (``--fresh``
rebuilds), so a long run can be resumed. Wall times on a shared machine drift: CPU seconds
(user + system of the child) are printed beside them.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, REPO, Row, Table, dir_size, query_set  # noqa: E402

from search.store import current_generation  # noqa: E402

SOURCES = [
    DATA / "reuters21578" / "docs.jsonl",
    DATA / "bbc" / "docs.jsonl",
    DATA / "ag_news_test" / "docs.jsonl",
    DATA / "wikinews" / "docs.jsonl",
]
BBC = DATA / "bbc" / "docs.jsonl"
SIZES = (10_000, 100_000, 300_000)
PY = sys.executable
NEWSEARCH = str(Path(PY).parent / "newsearch")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
ENV["TOKENIZERS_PARALLELISM"] = "false"


def child(code: str, *args: str, timeout: float = 7200) -> tuple[dict, float, float]:
    """Run ``code`` (Python) in a fresh interpreter; (its last stdout line as JSON, wall, cpu)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(
        [PY, "-c", code, *args], capture_output=True, text=True, cwd=REPO, env=ENV, timeout=timeout
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, cpu


def make_corpus(n: int, dest: Path) -> dict:
    """The first articles of the source stream holding ``n`` paragraphs, as the build cuts them."""
    meta = dest.with_suffix(".json")
    if dest.exists() and meta.exists():
        return json.loads(meta.read_text())
    from search.config import Settings
    from search.embed.base import model_path, token_counter
    from search.ingest import make_article
    from search.models import Article
    from search.paragraphs import split_article

    s = Settings()
    tok = token_counter(model_path(s.model_name))

    def count(text: str) -> int:
        return len(tok.encode(text).ids)

    paras = articles = copy = 0
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        while paras < n:
            copy += 1
            for src in SOURCES:
                with open(src, encoding="utf-8") as f:
                    for line in f:
                        rec = json.loads(line)
                        got = [
                            x for x in make_article(str(src), None, rec) if isinstance(x, Article)
                        ]
                        if not got:
                            continue
                        a = got[0]
                        k = len(split_article(a, count, s.max_tokens, s.min_tokens))
                        if copy > 1:
                            rec["id"] = f"{rec['id']}~{copy}"
                        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                        paras += k
                        articles += 1
                        if paras >= n:
                            break
                if paras >= n:
                    break
    tmp.rename(dest)
    info = {"paragraphs": paras, "articles": articles, "copies": copy, "bytes": dest.stat().st_size}
    meta.write_text(json.dumps(info))
    return info


BUILD = """
import json, sys, time
from pathlib import Path
from search.build import build_index
from search.config import Settings
t = time.perf_counter()
r = build_index([Path(sys.argv[1])], Settings.from_env(index_dir=sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t, "timings": r.timings,
                  "paragraphs": r.paragraphs, "embedded": r.embedded, "reused": r.reused,
                  "generation": r.generation}))
"""

PLAIN = """
import json, random, sys, time
from pathlib import Path
from sentence_transformers import SentenceTransformer
from search.embed import model_path
paras = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8")]
n = int(sys.argv[2])
texts = random.Random(5).sample(paras, n) if 0 < n < len(paras) else paras
st = SentenceTransformer(str(model_path("sentence-transformers/all-MiniLM-L6-v2")), device="cpu")
st.encode(texts[:32], batch_size=64)
t, c = time.perf_counter(), time.process_time()
st.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": s, "cpu": cpu, "n": len(texts), "rate": len(texts) / s}))
"""

QUERY = """
import json, sys, time
from dataclasses import replace
from search.config import Settings
from search.engine import Engine
from search.models import Query
queries, warm = json.loads(open(sys.argv[2]).read())
s = Settings.from_env(index_dir=sys.argv[1])
if sys.argv[3] == "baseline":  # before #14: torch fp32 query embedding, exact fp32 scan
    from search.embed import load_embedder
    s = replace(s, vector_scan="exact")
    engine = Engine.open(s, embedder=load_embedder(s.model_name, s.embed_batch_size, "torch"))
else:
    engine = Engine.open(s)
time.sleep(2)  # the int8 scan is built in the background after open
cpu = []
def one(q):
    engine.embedder.clear_cache()
    t, c = time.perf_counter(), time.process_time()
    engine.search(Query(q, mode="hybrid"))
    cpu.append((time.process_time() - c) * 1000)
    return (time.perf_counter() - t) * 1000
for q in warm:
    one(q)
cpu.clear()
ms = sorted(one(q) for q in queries)
cpu.sort()
rss = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(json.dumps({"p50": ms[len(ms) // 2], "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
                  "cpu_p50": cpu[len(cpu) // 2], "n": len(ms), "peak_rss": rss}))
"""


def bench_size(n: int, work: Path, port: int, fresh: bool, queries: list[str]) -> list[Row]:
    import server

    sec = f"{n // 1000}k paragraphs"
    d = work / f"p{n}"
    d.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus(n, d / "corpus.jsonl")
    print(f"{sec}: corpus {corpus}", flush=True)
    ix = d / "index"
    done = d / "build.json"
    if fresh or not done.exists():
        shutil.rmtree(ix, ignore_errors=True)
        rep, wall, cpu = child(BUILD, str(d / "corpus.jsonl"), str(ix))
        rep["cpu"] = cpu
        done.write_text(json.dumps(rep))
    rep = json.loads(done.read_text())
    gen = current_generation(ix)  # the live one (a kept index may have been upgraded since)
    plain, _, _ = child(PLAIN, str(gen / "paragraphs.jsonl"), "1500")
    rows = [
        Row(
            sec,
            "full build",
            rep["seconds"],
            "s",
            rep["paragraphs"] / plain["rate"],
            "plain ST.encode of all paragraphs (rate of a 1,500 sample)",
            note=f"{rep['paragraphs']:,} paragraphs, {rep['embedded']:,} distinct embedded; "
            f"CPU {rep['cpu']:.0f} s vs plain encode "
            f"{plain.get('cpu', 0) * rep['paragraphs'] / plain['n']:.0f} s (scaled); stages "
            + ", ".join(f"{k} {v:.0f} s" for k, v in rep["timings"].items()),
        ),
        Row(
            sec,
            "embedding in build",
            rep["embedded"] / max(rep["timings"].get("embed", 0), 1e-9),
            "para/s",
            plain["rate"],
            "plain ST.encode fp32",
            higher_is_better=True,
        ),
    ]
    qfile = d / "queries.json"
    qfile.write_text(json.dumps([queries[:200], queries[200:260]]))
    ours, _, _ = child(QUERY, str(ix), str(qfile), "default")
    base, _, _ = child(QUERY, str(ix), str(qfile), "baseline")
    t50, t99 = {100_000: (20, 60), 300_000: (40, None)}.get(n, (None, None))
    for p, target in (("p50", t50), ("p99", t99)):
        rows.append(
            Row(
                sec,
                f"hybrid {p}, in-process",
                ours[p],
                "ms",
                base[p],
                "torch query + exact scan",
                target=f"≤ {target} ms" if target else "",
                ok=ours[p] <= target if target else None,
                note=f"CPU per query p50 {ours['cpu_p50']:.1f} ms, baseline {base['cpu_p50']:.1f}"
                if p == "p50"
                else "",
            )
        )
    rows += server_rows(sec, n, ix, queries, port, server)
    rows.append(
        Row(
            sec,
            "index size",
            dir_size(gen) / 2**20,
            "MiB",
            corpus["bytes"] / 2**20,
            "input JSONL",
        )
    )
    return rows


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hybrid(q: str, mode: str = "hybrid") -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": q, "mode": mode, "limit": 10})


def server_rows(sec: str, n: int, ix: Path, queries: list[str], port: int, server) -> list[Row]:
    # One server at a time on ``port``, even with two curve runs going (sizes in parallel).
    with open(Path(tempfile.gettempdir()) / f"newsearch-curve-port-{port}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _server_rows(sec, n, ix, queries, port, server)


def _server_rows(sec: str, n: int, ix: Path, queries: list[str], port: int, server) -> list[Row]:
    base = server.baseline_process()
    log = open(ix.parent / "serve.log", "w")  # noqa: SIM115
    t0 = time.perf_counter()
    cmd = [NEWSEARCH, "serve", "--index-dir", str(ix), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=ENV)
    try:
        ready = None
        while time.perf_counter() - t0 < 300 and proc.poll() is None:
            try:
                if server.Client(port, timeout=5).get(_hybrid("oil prices", "hybrid"))[0] == 200:
                    ready = time.perf_counter() - t0
                    break
            except OSError:
                time.sleep(0.05)
        if ready is None:
            raise RuntimeError(f"server did not answer (see {log.name})")
        ready_cpu = proc_cpu(proc.pid)
        c = server.Client(port)
        for q in queries[200:260]:
            c.get(_hybrid(q, "hybrid"))
        lat = []
        cpu0 = proc_cpu(proc.pid)
        for q in queries[:200]:
            t = time.perf_counter()
            c.get(_hybrid(q, "hybrid"))
            lat.append((time.perf_counter() - t) * 1000)
        per_request = (proc_cpu(proc.pid) - cpu0) / len(lat) * 1000
        c.close()
        _, peak = server.rss_mib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
    lat.sort()
    http = {"p50": lat[len(lat) // 2], "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}
    rss_target = {100_000: 800, 300_000: 1536}.get(n)
    rows = [
        Row(
            sec,
            "server start-up to first hybrid answer",
            ready,
            "s",
            base["seconds"],
            "plain ST load + 1 encode",
            target="≤ 2 s" if n == 100_000 else "",
            ok=ready <= 2 if n == 100_000 else None,
            note=f"server CPU until then {ready_cpu:.1f} s",
        )
    ]
    for p, target in (("p50", 25), ("p99", 100)):
        rows.append(
            Row(
                sec,
                f"hybrid {p}, HTTP 1 client",
                http[p],
                "ms",
                None,
                "",
                target=f"≤ {target} ms" if n == 100_000 else "",
                ok=http[p] <= target if n == 100_000 else None,
                note=f"server CPU per request, mean {per_request:.1f} ms" if p == "p50" else "",
            )
        )
    rows.append(
        Row(
            sec,
            "server RSS, peak",
            peak,
            "MiB",
            base["rss"],
            "plain ST model loaded",
            target=f"≤ {rss_target} MiB" if rss_target else "",
            ok=peak <= rss_target if rss_target else None,
        )
    )
    return rows


def bench_bbc(work: Path) -> list[Row]:
    """BBC built from scratch by the CLI, model cache empty: the first run on a new machine."""
    d = work / "bbc"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    env = {**ENV, "NEWSEARCH_MODEL_CACHE": str(d / "models")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    cmd = [NEWSEARCH, "index", str(BBC), "--index-dir", str(d / "index"), "--quiet"]
    subprocess.run(cmd, check=True, cwd=REPO, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    gen = current_generation(d / "index")
    n = sum(1 for _ in open(gen / "paragraphs.jsonl", encoding="utf-8"))
    # A 2,000-paragraph random sample, scaled to all n: the whole set takes ~30 min of torch
    # on this shared machine. CPU seconds are scaled the same way.
    plain, pwall, pcpu = child(PLAIN, str(gen / "paragraphs.jsonl"), "2000")
    scale = n / plain["n"]
    base = plain["seconds"] * scale
    return [
        Row(
            "BBC, first build on a machine",
            "newsearch index (incl. model export)",
            wall,
            "s",
            base,
            f"plain ST.encode of the same {n:,} paragraphs (2,000 sample × {scale:.2f})",
            target="≤ 0.4×",
            ok=wall <= 0.4 * base,
            note=f"CPU {cpu:.0f} s vs plain encode {plain.get('cpu', pcpu) * scale:.0f} s (scaled)",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    ap.add_argument("--skip", nargs="*", default=[], choices=["bbc", "curve"])
    ap.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "newsearch-curve"
    )
    ap.add_argument("--port", type=int, default=5104)
    ap.add_argument("--fresh", action="store_true", help="rebuild indexes kept from a past run")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    queries = query_set(SOURCES, 260)
    table = Table()
    t0 = time.perf_counter()
    steps = [] if "bbc" in args.skip else [("bbc", lambda: bench_bbc(args.work_dir))]
    if "curve" not in args.skip:
        steps += [
            (f"{n}", lambda n=n: bench_size(n, args.work_dir, args.port, args.fresh, queries))
            for n in args.sizes
        ]
    for name, fn in steps:
        print(f"{name} …", flush=True)
        try:
            table.rows += fn()
        except Exception as e:  # noqa: BLE001 - report, go on with the next step
            table.add(name, "STEP FAILED", None, "", baseline_what=f"{type(e).__name__}: {e}")
        print(table.render(), flush=True)
        if args.json:
            args.json.write_text(json.dumps(table.to_json(), indent=2))
    load = os.getloadavg()
    print(
        f"\n== newsearch cost curve, defaults ({time.perf_counter() - t0:.0f} s; "
        f"{os.cpu_count()} cores shared, load average {load[0]:.1f} / {load[2]:.1f}) =="
    )
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
