"""The `newsearch` command line: index (with bad records), search, add, delete, staleness."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from search.cli import main


@pytest.fixture()
def run():
    def invoke(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_index_reports_bad_records_and_indexes_the_rest(tmp_path, corpus_dir, run):
    src = tmp_path / "src"
    shutil.copytree(corpus_dir, src)
    (src / "bad.jsonl").write_text(
        '{"id": "ok-1", "title": "Harbour reopens", "text": "The harbour reopened today."}\n'
        "{not json\n"
        '{"id": "empty", "title": "Nothing", "text": ""}\n'
    )
    ix = tmp_path / "ix"
    result = run("index", src, "--index-dir", ix)
    assert result.exit_code == 0, result.output
    assert "bad.jsonl:2" in result.output and "invalid JSON" in result.output
    assert "bad.jsonl:3" in result.output
    assert "indexed 10 articles" in result.output and "skipped 2 records" in result.output

    again = run("index", src, "--index-dir", ix, "--if-stale")
    assert again.exit_code == 0 and "up to date" in again.output
    quiet = run("index", src, "--index-dir", ix, "--if-stale", "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""

    found = run("search", "harbour", "--mode", "keyword", "--json", "--index-dir", ix)
    body = json.loads(found.output)
    assert [r["article_id"] for r in body["results"]] == ["ok-1"]
    assert body["results"][0]["paragraphs"][0]["highlighted"].count("<mark>") == 1


def test_index_fails_when_nothing_is_indexable(tmp_path, run):
    (tmp_path / "junk.jsonl").write_text("{broken\n")
    result = run("index", tmp_path / "junk.jsonl", "--index-dir", tmp_path / "ix", "--quiet")
    assert result.exit_code != 0 and "nothing could be indexed" in result.output
    missing = run("index", tmp_path / "nope", "--index-dir", tmp_path / "ix")
    assert missing.exit_code != 0 and "no such file" in missing.output


def test_search_text_output_and_errors(settings, built_index, run):
    out = run("search", "Idlib de-escalation", "--index-dir", settings.index_dir)
    assert out.exit_code == 0
    assert "1. Turkey, Russia agree on coordination in Syria" in out.output
    assert "keyword #1" in out.output and "semantic #1" in out.output
    bad = CliRunner().invoke(main, ["search", "x", "--limit", "0"])
    assert bad.exit_code == 2 and "limit" in bad.output.lower()
    blank = CliRunner().invoke(main, ["search", "  "])  # the argument, not an option `--q`
    assert blank.exit_code == 2 and "Error: TEXT: is required and must not be blank" in blank.output
    filt = run(
        "search", "prices", "--source", "Tech Daily", "--json", "--index-dir", settings.index_dir
    )
    assert {r["source"] for r in json.loads(filt.output)["results"]} == {"Tech Daily"}


def test_search_argument_that_is_not_utf8_is_answered(settings, built_index, run):
    """Bytes that are not UTF-8 reach Python as lone surrogates, which cannot be printed: the
    answer (text and --json) echoes them as U+FFFD instead of failing to write."""
    for extra in ([], ["--json"]):
        out = run(
            "search",
            "harbour \udcff\ud800",
            "--source",
            "\ud800",
            *extra,
            "--index-dir",
            settings.index_dir,
        )
        assert out.exit_code == 0, out.output
    assert json.loads(out.output)["query"] == "harbour \ufffd\ufffd"


def test_search_without_index_is_a_clear_error(tmp_path, run):
    out = CliRunner().invoke(main, ["search", "x", "--index-dir", str(tmp_path / "empty")])
    assert out.exit_code == 1 and "no index" in out.output


def test_add_and_delete_commands(tmp_path, corpus_dir, run):
    ix = tmp_path / "ix"
    assert run("index", corpus_dir, "--index-dir", ix, "--quiet").exit_code == 0
    new = tmp_path / "n.jsonl"
    new.write_text('{"id": "volcano-1", "title": "Volcano erupts", "text": "Ash fell."}\n')
    added = run("add", new, "--index-dir", ix)
    assert added.exit_code == 0 and "indexed 1 article," in added.output
    hit = run("search", "volcano", "--mode", "keyword", "--json", "--index-dir", ix)
    assert [r["article_id"] for r in json.loads(hit.output)["results"]] == ["volcano-1"]
    gone = run("delete", "volcano-1", "nope", "--index-dir", ix)
    # The known id is deleted; the unknown one makes the command fail, and says which.
    assert gone.exit_code == 1 and "deleted 1 article " in gone.output
    assert "not found: nope" in gone.output
    unknown = run("delete", "nope", "--index-dir", ix, "--quiet")
    assert unknown.exit_code == 1 and "not found: nope" in unknown.output
    miss = run("search", "volcano", "--mode", "keyword", "--json", "--index-dir", ix)
    assert json.loads(miss.output)["results"] == []


@pytest.mark.parametrize("backend", ["openvino-int8", "torch"])
def test_quiet_prints_nothing_but_errors(tmp_path, corpus_dir, backend):
    """No summary, no progress bar, no model-loading bar ("Loading weights 0/103")."""
    env = {"NEWSEARCH_EMBED_BACKEND": backend}
    ix = str(tmp_path / "ix")
    out = CliRunner().invoke(
        main, ["index", str(corpus_dir), "--index-dir", ix, "--quiet"], env=env
    )
    assert out.exit_code == 0 and out.output == ""
    loud = CliRunner().invoke(main, ["index", str(corpus_dir), "--index-dir", ix], env=env)
    assert loud.exit_code == 0 and loud.output.startswith("indexed 9 articles, ")
    assert "\r" not in loud.output  # not a terminal: no bars redrawn with carriage returns


def test_progress_is_plain_lines_off_a_terminal(monkeypatch):
    import io

    from search import progress

    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    out = io.StringIO()
    for _ in progress.bar(
        range(3), total=3, desc="embedding", unit="paragraphs", enabled=True, out=out
    ):
        pass
    assert out.getvalue().splitlines() == [
        "embedding: 1/3 paragraphs (33%)",
        "embedding: 2/3 paragraphs (67%)",
        "embedding: 3/3 paragraphs (100%)",
    ]
    silent = io.StringIO()
    list(progress.bar(range(3), desc="x", unit="y", enabled=False, out=silent))
    assert silent.getvalue() == ""
    assert (progress.plural(1, "article"), progress.plural(1204, "paragraph")) == (
        "1 article",
        "1,204 paragraphs",
    )


def test_serve_on_a_port_in_use_is_one_line_before_the_index_is_opened(tmp_path, monkeypatch, run):
    """A busy port or an address not on this machine: one line and exit status 1, without a
    traceback and without first loading the index and the model."""
    import socket

    import web

    def no_app(*args, **kwargs):
        raise AssertionError("the app (index, model) was opened before the socket was bound")

    monkeypatch.setattr(web, "create_app", no_app)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run("serve", "--port", port, "--index-dir", tmp_path / "ix")
        # --threads takes what NEWSEARCH_SERVE_THREADS takes (1-256): 200 gets as far as binding
        many = run("serve", "--port", port, "--threads", 200, "--index-dir", tmp_path / "ix")
    assert out.exit_code == 1
    assert out.output.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert many.exit_code == 1 and "cannot listen" in many.output
    assert run("serve", "--threads", 257).exit_code == 2
    elsewhere = run("serve", "--host", "no-such-host.invalid", "--index-dir", tmp_path / "ix")
    assert elsewhere.exit_code == 1
    assert elsewhere.output.startswith("Error: cannot listen on no-such-host.invalid:5000: ")
    assert run("serve", "--port", 70000).exit_code == 2  # not a port: a usage error


def test_serve_answers_once_it_has_bound_and_opened_the_index(settings, built_index):
    """The socket is bound before the app exists (the test above); requests then reach it."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "search.cli", "serve", "--port", str(port)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [*cmd, "--index-dir", str(settings.index_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, answer = time.monotonic() + 120, None
        while answer is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as r:
                    answer = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert answer is not None, proc.stderr.read() if proc.poll() is not None else "no answer"
        assert answer["status"] == "ok" and answer["articles"] == built_index.articles
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_one_shot_search_builds_no_int8_scan(settings, built_index, monkeypatch):
    """`newsearch search` answers one query and exits: the int8 copy of the vectors, compiled
    by OpenVINO on a background thread, would still be compiling at exit on a large index,
    and the process then aborted (status 134, ~1 run in 8 at 23k paragraphs) after printing
    its answer. The one-shot search opens the index with the exact scan."""
    from search.engine import Engine

    opened = []
    real = Engine.open

    def spy(s, *a, **k):
        opened.append(s.vector_scan)
        return real(s, *a, **k)

    monkeypatch.setattr(Engine, "open", staticmethod(spy))
    out = CliRunner().invoke(main, ["search", "wheat", "--index-dir", str(settings.index_dir)])
    assert out.exit_code == 0, out.output
    assert opened == ["exact"]
