"""Load run (not a test): N concurrent clients against the production server for a fixed time.

    .venv/bin/python bench/load.py --index-dir /tmp/wikinews-ix            # 50 clients, 60 s

Starts ``newsearch serve`` (waitress) on a free loopback port over ``--index-dir``, waits for
``/api/health``, then runs ``--clients`` threads, each with its own keep-alive connection, that
send searches (mostly ``/api/search`` in all three modes, some search pages and article
lookups) built from words of the index's own titles, so queries rarely repeat and the query
embedding cache does not flatter the numbers. Every loop is bounded by ``--duration`` and
``--max-requests``; the server's resident memory is sampled all along. At the end it prints
requests, failures, throughput, p50/p90/p99/max latency, and RSS at start, after warm-up, at
the middle, at the end and at peak, then stops the server it started (by its own pid).
Exit status 1 if any request failed or memory kept growing in the second half of the run.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MODES = {"keyword": 0.35, "hybrid": 0.4, "semantic": 0.25}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (Linux /proc), 0.0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def live_articles(index_dir: Path) -> list[dict]:
    """Article records of the live generation (for query words and article ids)."""
    name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    with open(index_dir / name / "articles.jsonl", encoding="utf-8") as f:
        return [a for a in (json.loads(line) for line in f if line.strip()) if not a.get("deleted")]


def make_requests(articles: list[dict], n: int, seed: int) -> list[str]:
    """``n`` request paths: searches of 1-4 title words in every mode, pages, article views."""
    rng = random.Random(seed)
    words = sorted({w for a in articles for w in a["title"].split() if len(w) > 3 and w.isalpha()})
    if not words:
        words = ["news", "report", "government", "election"]
    modes, weights = zip(*MODES.items(), strict=True)
    out = []
    for _ in range(n):
        q = " ".join(rng.sample(words, k=min(len(words), rng.randint(1, 4))))
        roll = rng.random()
        if roll < 0.85:
            mode = rng.choices(modes, weights)[0]
            out.append("/api/search?" + urllib.parse.urlencode({"q": q, "mode": mode}))
        elif roll < 0.95:
            out.append("/?" + urllib.parse.urlencode({"q": q}))
        else:
            out.append("/api/articles/" + urllib.parse.quote(rng.choice(articles)["id"], safe=""))
    return out


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if error:
                self.failures[error] += 1


def client(
    port: int, paths: list[str], stop: threading.Event, budget, tally: Tally, timeout: float
):
    """One client: keep-alive connection, requests until told to stop or out of budget."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    i = 0
    while not stop.is_set() and budget():
        path = paths[i % len(paths)]
        i += 1
        t = time.perf_counter()
        error = None
        try:
            conn.request("GET", path)
            res = conn.getresponse()
            res.read()
            if res.status != 200:
                error = f"HTTP {res.status}"
            if res.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            error = type(e).__name__
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        tally.add(time.perf_counter() - t, error)
    conn.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_server(index_dir: Path, port: int, threads: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    cmd = [sys.executable, "-m", "search.cli", "serve", "--host", HOST, "--port", str(port)]
    cmd += ["--index-dir", str(index_dir), "--threads", str(threads)]
    with open(log, "wb") as out:  # a file, not a pipe nobody reads (a full pipe blocks it)
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen, port: int, timeout: float, log: Path) -> float:
    t0 = time.monotonic()
    answer = "no answer"
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"server exited with {proc.returncode}:\n{tail}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/api/health")
            res = conn.getresponse()
            answer = f"{res.status} {res.read()[:300].decode(errors='replace')}"
            if res.status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-1500:]
    raise SystemExit(f"server not ready after {timeout:.0f} s ({answer}); its log:\n{tail}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, required=True, help="a built index")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    ap.add_argument("--max-requests", type=int, default=500_000, help="hard cap on requests")
    ap.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)
    if not (args.index_dir / "CURRENT").is_file():
        ap.error(f"no index in {args.index_dir}: build one with `newsearch index`")
    articles = live_articles(args.index_dir)
    paths = [make_requests(articles, 2_000, args.seed + c) for c in range(args.clients)]

    port = free_port()
    log = Path(tempfile.gettempdir()) / f"newsearch-load-{os.getpid()}.log"
    proc = start_server(args.index_dir, port, args.threads, log)
    try:
        startup = wait_ready(proc, port, timeout=180, log=log)
        rss = {"start": rss_mb(proc.pid)}
        samples: list[tuple[float, float]] = []
        sent = 0
        sent_lock = threading.Lock()

        def budget() -> bool:
            nonlocal sent
            with sent_lock:
                sent += 1
                return sent <= args.max_requests

        def run(seconds: float, tally: Tally) -> float:
            stop = threading.Event()
            workers = [
                threading.Thread(
                    target=client, args=(port, p, stop, budget, tally, args.timeout), daemon=True
                )
                for p in paths
            ]
            t0 = time.monotonic()
            for w in workers:
                w.start()
            while time.monotonic() - t0 < seconds and any(w.is_alive() for w in workers):
                time.sleep(min(1.0, seconds / 20))
                samples.append((time.monotonic() - t0, rss_mb(proc.pid)))
            stop.set()
            for w in workers:
                w.join(args.timeout + 5)
            return time.monotonic() - t0

        if args.warmup > 0:
            run(args.warmup, Tally())
        rss["after_warmup"] = rss_mb(proc.pid)
        samples.clear()
        tally = Tally()
        elapsed = run(args.duration, tally)
        rss["end"] = rss_mb(proc.pid)
        during = [mb for _, mb in samples] or [rss["end"]]
        rss["middle"] = during[len(during) // 2]
        rss["peak"] = max(during + [rss["end"]])
        alive = proc.poll() is None
    finally:
        stop_server(proc)
        log.unlink(missing_ok=True)

    lat = [x * 1000 for x in tally.latencies]
    n, failed = len(lat), sum(tally.failures.values())
    growth = rss["end"] - rss["middle"]
    summary = {
        "index_dir": str(args.index_dir),
        "articles": len(articles),
        "clients": args.clients,
        "server_threads": args.threads,
        "startup_s": round(startup, 2),
        "seconds": round(elapsed, 1),
        "requests": n,
        "failures": failed,
        "failure_kinds": dict(tally.failures),
        "requests_per_s": round(n / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {
            "p50": round(percentile(lat, 50), 1),
            "p90": round(percentile(lat, 90), 1),
            "p99": round(percentile(lat, 99), 1),
            "max": round(max(lat), 1) if lat else None,
            "mean": round(statistics.fmean(lat), 1) if lat else None,
        },
        "rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "rss_growth_second_half_mb": round(growth, 1),
        "server_alive_at_end": alive,
    }
    # Memory may grow while caches fill; in the second half of a steady run it must level off.
    leaking = growth > max(25.0, 0.05 * rss["middle"])
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        lm = summary["latency_ms"]
        print(
            f"{args.clients} clients x {elapsed:.0f} s against newsearch serve "
            f"({len(articles)} articles, {args.threads} threads, up in {startup:.1f} s)"
        )
        print(f"requests {n}  failures {failed}  {summary['requests_per_s']} req/s")
        print(f"latency ms  p50 {lm['p50']}  p90 {lm['p90']}  p99 {lm['p99']}  max {lm['max']}")
        print(
            "server RSS MiB  "
            + "  ".join(f"{k} {v:.0f}" for k, v in rss.items())
            + f"  (second-half growth {growth:+.1f})"
        )
        if tally.failures:
            print("failures:", dict(tally.failures))
        print("memory:", "GROWING" if leaking else "steady")
    return 1 if failed or leaking or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
