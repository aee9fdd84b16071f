"""The real server over loopback: start-up, latency per mode, 8/32 concurrent clients, RSS.

Starts ``.venv/bin/newsearch serve --index-dir ... --port <free port>`` as a child process,
talks to it only on 127.0.0.1, bounds every loop by count and time, and always stops the
child it started (by its own pid).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import REPO, Row, latency_summary

BIN = Path(sys.executable).parent
MODES = ("keyword", "semantic", "hybrid")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _path(q: str, mode: str) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": q, "mode": mode, "limit": 10})


class Client:
    """One keep-alive connection to the server (reconnects once on a dropped connection)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of ``pid`` in MiB, from /proc."""
    cur = peak = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def baseline_process() -> dict[str, float]:
    """Plain model load to first embedding in a fresh Python: seconds and RSS (MiB)."""
    code = (
        "import time,json;t=time.perf_counter();"
        "from sentence_transformers import SentenceTransformer;"
        "from search.embed import model_path;"
        "m=SentenceTransformer(str(model_path('sentence-transformers/all-MiniLM-L6-v2')),"
        "device='cpu');m.encode(['warm up']);s=time.perf_counter()-t;"
        "rss=[int(l.split()[1])/1024 for l in open('/proc/self/status') "
        "if l.startswith('VmRSS:')][0];print(json.dumps({'seconds':s,'rss':rss}))"
    )
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    wall = time.perf_counter() - t
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall"] = wall
    return res


def run_load(
    port: int,
    queries: Sequence[str],
    clients: int,
    seconds: float,
    max_requests: int,
    mode: str = "hybrid",
) -> dict[str, Any]:
    """``clients`` threads, each on its own keep-alive connection, for ``seconds`` or until
    ``max_requests`` in all; returns req/s, latency summary and error count."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    counter = iter(range(max_requests))

    def worker(k: int) -> None:
        c = Client(port)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                q = queries[i % len(queries)]
                t = time.perf_counter()
                try:
                    status, _ = c.get(_path(q, mode))
                except OSError:
                    status = -1
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    if status == 200:
                        lat.append(ms)
                    else:
                        errors[0] += 1
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(seconds + 60)
    wall = time.perf_counter() - t0
    return {"rps": len(lat) / wall, "errors": errors[0], "wall": wall, **latency_summary(lat)}


def bench_server(
    index_dir: Path,
    queries: Sequence[str],
    warm: Sequence[str],
    pool: Sequence[str],
    in_process: dict[str, dict],
    load_seconds: float,
    env: dict[str, str] | None = None,
) -> list[Row]:
    """Everything measured through HTTP; ``in_process`` holds the engine's own latencies.

    The server caches query vectors, so it is warmed up on other queries (``warm``) than the
    timed ones, and the load runs draw from a large ``pool`` so that repeats are rare.
    """
    base = baseline_process()
    port = free_port()
    cmd = [str(BIN / "newsearch"), "serve", "--index-dir", str(index_dir), "--port", str(port)]
    log = open(Path(index_dir).parent / f"serve-{port}.log", "w")  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    rows: list[Row] = []
    try:
        ready = None
        probe = _path("oil prices", "hybrid")
        while time.perf_counter() - t0 < 180 and proc.poll() is None:
            try:
                status, _ = Client(port, timeout=5).get(probe)
                if status == 200:
                    ready = time.perf_counter() - t0
                    break
            except OSError:
                pass
            time.sleep(0.05)
        if ready is None:
            raise RuntimeError(f"server did not answer within 180 s (see {log.name})")
        rss_start = rss_mib(proc.pid)[0]
        rows.append(
            Row(
                "server",
                "start-up to first hybrid answer",
                ready,
                "s",
                base["seconds"],
                "plain ST load + 1 encode (in-process)",
                target="≤ 3 s",
                ok=ready <= 3,
            )
        )
        c = Client(port)
        for mode in MODES:
            for q in warm:
                c.get(_path(q, mode))
            lat = []
            for q in queries:
                t = time.perf_counter()
                status, _ = c.get(_path(q, mode))
                lat.append((time.perf_counter() - t) * 1000)
            s = latency_summary(lat)
            for p in ("p50", "p99"):
                rows.append(
                    Row(
                        "query (HTTP, 1 client)",
                        f"{mode} {p}",
                        s[p],
                        "ms",
                        in_process.get(mode, {}).get(p),
                        "same engine in-process",
                    )
                )
        c.close()
        single = run_load(port, pool, 1, load_seconds, 100_000)
        rows.append(
            Row(
                "server load (hybrid)",
                "1 client req/s",
                single["rps"],
                "req/s",
                higher_is_better=True,
                note=f"p99 {single['p99']:.1f} ms",
            )
        )
        for n in (8, 32):
            r = run_load(port, pool, n, load_seconds, 100_000)
            rows.append(
                Row(
                    "server load (hybrid)",
                    f"{n} clients req/s",
                    r["rps"],
                    "req/s",
                    single["rps"],
                    "1 client",
                    higher_is_better=True,
                    note=f"{r['errors']} errors; client threads share the 2 cores",
                )
            )
            rows.append(
                Row(
                    "server load (hybrid)",
                    f"{n} clients p99",
                    r["p99"],
                    "ms",
                    single["p99"],
                    "1 client",
                )
            )
        cur, peak = rss_mib(proc.pid)
        rows.append(
            Row(
                "server",
                "RSS after load (peak)",
                peak,
                "MiB",
                base["rss"],
                "plain ST model loaded",
                target="≤ 1024 MiB",
                ok=peak <= 1024,
                note=f"current {cur:.0f} MiB, right after start-up {rss_start:.0f} MiB",
            )
        )
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
    return rows
