"""Replay the nine fault classes of issue #17 against a real server and the CLI, on loopback.

    python bench/hostile.py                      # this checkout
    python bench/hostile.py --code /path/to/old  # the same replay against another tree's code

Every figure prints next to a baseline from the same run (the machine is shared). All loops are
bounded; the server listens on 127.0.0.1 only (``--port``, default 5103); nothing leaves the
machine. Children run ``python -m search.cli`` with ``PYTHONPATH=--code``, so an old tree can be
measured with the same script (``git archive <commit> | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "corpus"
ROWS: list[tuple[str, str, str]] = []


def row(name: str, value: str, baseline: str = "") -> None:
    ROWS.append((name, value, baseline))
    print(f"{name:<58} {value:>22}  {baseline}", flush=True)


def env(code: Path) -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(code), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    e["TOKENIZERS_PARALLELISM"] = "false"
    return e


def cli(code: Path, *args: str, timeout: float = 900) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "search.cli", *args],
        env=env(code),
        cwd=code,  # `-m` and `-c` put the working directory first on sys.path
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout + p.stderr, time.perf_counter() - t0


def child_peak_mib(code: Path, snippet: str, timeout: float = 900) -> tuple[float, float, str]:
    """(peak RSS MiB, seconds, output) of ``python -c snippet`` under ``code``."""
    wrapped = (
        "import resource, time; t0 = time.perf_counter()\n"
        + snippet
        + "\nprint('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " time.perf_counter() - t0)"
    )
    p = subprocess.run(
        [sys.executable, "-c", wrapped],
        env=env(code),
        cwd=code,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = p.stdout + p.stderr
    for line in out.splitlines():
        if line.startswith("PEAK"):
            _, peak, secs = line.split()
            return float(peak), float(secs), out
    return float("nan"), float("nan"), out[-500:]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    def __init__(self, code: Path, index_dir: Path, port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "search.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--index-dir",
                str(index_dir),
            ],
            env=env(code),
            cwd=code,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if get(port, "/api/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- the classes


def _random_words(rng: random.Random) -> str:
    return " ".join(
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12)))
        for _ in range(rng.randint(1, 4))
    )


def class1_memory(srv: Server, queries: int) -> None:
    # Warm up with distinct random queries too: a keyword search also embeds the query, and
    # the model's first few hundred inputs grow torch's own caches (~150 MiB, not ours).
    warm = random.Random(1)
    for _ in range(500):
        get(srv.port, f"/api/search?q={urllib.parse.quote(_random_words(warm))}&mode=keyword")
    base = rss_mib(srv.proc.pid)
    rng = random.Random(17)
    t0 = time.perf_counter()
    marks = []
    for i in range(1, queries + 1):
        get(srv.port, f"/api/search?q={urllib.parse.quote(_random_words(rng))}&mode=keyword")
        if i % max(1, queries // 5) == 0:
            marks.append(f"{rss_mib(srv.proc.pid) - base:+.0f}")
    grown = rss_mib(srv.proc.pid) - base
    row(
        f"1 RSS growth over {queries} random-word queries",
        f"{grown:+.1f} MiB",
        f"after 500 warm-up ones, at {base:.0f} MiB; by fifths {' '.join(marks)}; "
        f"{time.perf_counter() - t0:.0f} s",
    )


def class2_half_open(srv: Server, sockets: int) -> None:
    t0 = time.perf_counter()
    get(srv.port, "/api/health")
    baseline = time.perf_counter() - t0
    held = []
    for _ in range(sockets):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(s)
    t0 = time.perf_counter()
    try:
        status, _ = get(srv.port, "/api/health", timeout=10)
        answer = f"{time.perf_counter() - t0:.3f} s ({status})"
    except OSError as e:
        answer = f"no answer in 10 s ({e.__class__.__name__})"
    row(
        f"2 /api/health with {sockets} half-open sockets held",
        answer,
        f"idle server: {baseline:.3f} s",
    )
    t0 = time.perf_counter()
    s = held[0]
    s.settimeout(0.5)
    dropped = None
    while time.perf_counter() - t0 < 20:
        try:
            s.send(b"x")  # trickle: one header byte now and then
            if s.recv(1) == b"":
                dropped = time.perf_counter() - t0
                break
        except TimeoutError:
            continue
        except OSError:
            dropped = time.perf_counter() - t0
            break
    row("2 trickling client dropped after", f"{dropped:.1f} s" if dropped else "not in 20 s")
    for s in held:
        s.close()


def class7_body(srv: Server) -> None:
    t0 = time.perf_counter()
    get(srv.port, "/api/health")
    baseline = time.perf_counter() - t0
    size = 50 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(f"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
        t0 = time.perf_counter()
        sent, reply = 0, b""
        s.setblocking(False)
        chunk = b"x" * 65536
        while time.perf_counter() - t0 < 60 and not reply:
            try:
                reply = s.recv(200)
            except BlockingIOError:
                pass
            if sent < size and not reply:
                try:
                    sent += s.send(chunk)
                except (BlockingIOError, OSError):
                    time.sleep(0.001)
    status = reply.split(b" ")[1].decode() if reply else "none"
    row(
        "7 50 MB request body: answer",
        f"{status} after {time.perf_counter() - t0:.2f} s",
        f"{sent / 1e6:.1f} MB sent first; plain GET {baseline:.3f} s",
    )


def class3_word(code: Path, index_dir: Path, work: Path) -> None:
    small = work / "small.jsonl"
    small.write_text(
        json.dumps({"id": "small-1", "title": "Small", "text": "A short story."}) + "\n",
        encoding="utf-8",
    )
    _, _, base = cli(code, "add", str(small), "--index-dir", str(index_dir), "--quiet")
    big = work / "word.jsonl"
    big.write_text(
        json.dumps({"id": "word-1", "title": "Word", "text": "ab," * 133_334}) + "\n",
        encoding="utf-8",
    )
    rc, out, secs = cli(
        code, "add", str(big), "--index-dir", str(index_dir), "--quiet", timeout=1800
    )
    row(
        "3 `add` of a 400 KB one-word record",
        f"{secs:.1f} s (exit {rc})",
        f"`add` of a one-line record: {base:.1f} s",
    )
    attrs = " ".join(f'a{i}="v"' for i in range(40_000))
    html = work / "attrs.html"
    words = "Enough words for an article body in this test page. " * 10
    html.write_text(f"<html><body><div {attrs}><p>{words}</p></div></body></html>", "utf-8")
    _, secs, _ = child_peak_mib(
        code, f"from search.ingest import read_corpus; list(read_corpus([{str(html)!r}]))"
    )
    plain = work / "plain.html"
    plain.write_text(f"<html><body><div><p>{words}</p></div></body></html>", "utf-8")
    _, base, _ = child_peak_mib(
        code, f"from search.ingest import read_corpus; list(read_corpus([{str(plain)!r}]))"
    )
    row("3 HTML page with 40k attributes on one element", f"{secs:.1f} s", f"plain: {base:.1f} s")


def class4_current(code: Path, index_dir: Path, work: Path) -> None:
    def count() -> int:
        name = (index_dir / "CURRENT").read_text("utf-8").strip()
        rows = (index_dir / name / "articles.jsonl").read_text("utf-8").splitlines()
        return sum(1 for r in rows if not json.loads(r).get("deleted"))

    before = count()
    story = work / "after-broken.jsonl"
    story.write_text(
        json.dumps({"id": "broken-1", "title": "T", "text": "After CURRENT broke."}) + "\n",
        encoding="utf-8",
    )
    (index_dir / "CURRENT").write_bytes(b"")
    rc, out, _ = cli(code, "add", str(story), "--index-dir", str(index_dir), "--quiet")
    row(
        "4 `add` with an empty CURRENT: live articles",
        f"{count()} (exit {rc})",
        f"before: {before} (+1 expected)",
    )
    (index_dir / "CURRENT").write_bytes(b"\xff\xfe")
    rc, out, _ = cli(code, "search", "story", "--index-dir", str(index_dir))
    row(
        "4 `search` with a non-UTF-8 CURRENT",
        f"exit {rc}",
        "traceback" if "Traceback" in out else "no traceback",
    )
    gens = sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-"))
    (index_dir / "CURRENT").write_text(gens[-1] + "\n", encoding="utf-8")


def class6_fetch(code: Path, index_dir: Path, work: Path) -> None:
    class Feed(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/trickle"):
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", "60")
                self.end_headers()
                for _ in range(60):
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(1)
                return
            body = (
                b"<rss><channel><title>Local</title><item><title>Admin</title>"
                b"<link>http://127.0.0.1/admin</link><description>Internal admin page "
                b"text.</description></item></channel></rss>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        args = ["--index-dir", str(index_dir), "--save", str(work / "feeds"), "--quiet"]
        rc, out, _ = cli(code, "fetch", f"{base}/rss.xml", *args)
        row(
            "6 fetch of a loopback feed, no opt-in",
            "refused" if rc else "FETCHED",
            (out.strip().splitlines() or [""])[0][:60],
        )
        rc, out, secs = cli(
            code, "fetch", f"{base}/trickle.xml", "--timeout", "3", *args, timeout=120
        )
        row(
            "6 fetch from a 1 byte/s server, --timeout 3",
            f"{secs:.1f} s (exit {rc})",
            "deadline per URL, 60 bytes sent in all",
        )
    finally:
        server.shutdown()
        server.server_close()


def class7_ingest(code: Path, work: Path) -> None:
    base, _, _ = child_peak_mib(code, "import search.ingest")
    sparse = work / "sparse.jsonl"
    with open(sparse, "wb") as f:
        f.truncate(2 << 30)
    peak, secs, _ = child_peak_mib(
        code, f"from search.ingest import read_corpus; print(list(read_corpus([{str(sparse)!r}])))"
    )
    row(
        "7 2 GB sparse .jsonl: peak RSS",
        f"{peak:.0f} MiB, {secs:.1f} s",
        f"python + import: {base:.0f} MiB",
    )
    sparse.unlink()
    csv_file = work / "big.csv"
    with open(csv_file, "w", encoding="utf-8") as f:
        f.write("id,title,text\n")
        text = "word " * 1400
        for n in range(10_000):  # ~70 MB
            f.write(f"id{n},Title {n},{text}\n")
    peak, secs, _ = child_peak_mib(
        code,
        "from search.ingest import read_corpus\n"
        f"n = sum(1 for _ in read_corpus([{str(csv_file)!r}]))",
    )
    row(
        f"7 {csv_file.stat().st_size / 1e6:.0f} MB CSV read (articles not kept): peak RSS",
        f"{peak:.0f} MiB, {secs:.1f} s",
        f"python + import: {base:.0f} MiB",
    )
    csv_file.unlink()
    outside = work / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"id": "s", "text": "secret"}\n', encoding="utf-8")
    folder = work / "folder"
    folder.mkdir()
    (folder / "link.jsonl").symlink_to(outside / "secret.jsonl")
    _, _, out = child_peak_mib(
        code, f"from search.ingest import read_corpus; print(list(read_corpus([{str(folder)!r}])))"
    )
    row("7 symlink out of the folder", "skipped" if "outside" in out else "FOLLOWED")


def class8_disk(code: Path, index_dir: Path, work: Path, cycles: int) -> None:
    def gens() -> tuple[int, float]:
        dirs = [p for p in index_dir.iterdir() if p.name.startswith("gen-")]
        size = sum(f.stat().st_size for d in dirs for f in d.rglob("*") if f.is_file())
        return len(dirs), size / 1e6

    n0, mb0 = gens()
    live0 = _live_bytes(index_dir)
    batch = work / "cycle.jsonl"
    with open(batch, "w", encoding="utf-8") as f:
        for i in range(40):
            f.write(
                json.dumps(
                    {
                        "id": f"cyc-{i}",
                        "title": f"Cycle {i}",
                        "text": f"Cycle story number {i} about harbour cranes.",
                    }
                )
                + "\n"
            )
    t0 = time.perf_counter()
    for _ in range(cycles):
        cli(code, "add", str(batch), "--index-dir", str(index_dir), "--quiet")
        cli(code, "delete", *[f"cyc-{i}" for i in range(40)], "--index-dir", str(index_dir))
    n1, mb1 = gens()
    row(
        f"8 {cycles} add/delete cycles of 40 articles: generations",
        f"{n1} ({mb1:.1f} MB)",
        f"before: {n0} ({mb0:.1f} MB); {time.perf_counter() - t0:.0f} s",
    )
    row(
        "8 ... live generation size",
        f"{_live_bytes(index_dir) / 1e6:.2f} MB",
        f"before: {live0 / 1e6:.2f} MB",
    )


def _live_bytes(index_dir: Path) -> int:
    name = (index_dir / "CURRENT").read_text("utf-8").strip()
    return sum(f.stat().st_size for f in (index_dir / name).rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code", type=Path, default=REPO, help="tree whose search/ and web/ run")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--port", type=int, default=5103)
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--sockets", type=int, default=150)
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument("--only", default="1234678", help="classes to run, e.g. 127")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsearch-hostile-"))
    try:
        index_dir = work / "index"
        rc, out, secs = cli(
            args.code, "index", str(args.corpus), "--index-dir", str(index_dir), "--quiet"
        )
        if rc:
            raise SystemExit(out)
        _, _, where = child_peak_mib(args.code, "import search; print('CODE', search.__file__)")
        where = next((x for x in where.splitlines() if x.startswith("CODE")), where)
        print(f"{where}; index of {args.corpus} built in {secs:.0f} s", flush=True)
        if set(args.only) & set("127"):
            srv = Server(args.code, index_dir, args.port)
            try:
                if "1" in args.only:
                    class1_memory(srv, args.queries)
                if "2" in args.only:
                    class2_half_open(srv, args.sockets)
                if "7" in args.only:
                    class7_body(srv)
            finally:
                srv.stop()
        if "3" in args.only:
            class3_word(args.code, index_dir, work)
        if "4" in args.only:
            class4_current(args.code, index_dir, work)
        if "6" in args.only:
            class6_fetch(args.code, index_dir, work)
        if "7" in args.only:
            class7_ingest(args.code, work)
        if "8" in args.only:
            class8_disk(args.code, index_dir, work, args.cycles)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import urllib.error
    import urllib.parse

    main()
