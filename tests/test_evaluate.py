"""Evaluation: metric wiring against hand-computed values, and the real ``eval`` CLI end to end."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from search import evaluate as ev
from search.cli import main
from search.config import Settings

EVAL = Path(__file__).parent / "data" / "eval"
QRELS = {"q1": {"d1": 1, "d2": 1}}


def test_perfect_run_scores_one():
    m = ev.score({"q1": {"d1": 2.0, "d2": 1.0, "d3": 0.5}}, QRELS)
    assert m == pytest.approx({"ndcg@10": 1.0, "map": 1.0, "mrr@10": 1.0, "recall@100": 1.0})


def test_reversed_run_matches_hand_computed_values():
    # Relevant documents at ranks 3 and 4 of 4.
    m = ev.score({"q1": {"d4": 4.0, "d3": 3.0, "d2": 2.0, "d1": 1.0}}, QRELS)
    dcg = 1 / math.log2(4) + 1 / math.log2(5)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / ideal)  # 0.5706
    assert m["map"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert m["mrr@10"] == pytest.approx(1 / 3)
    assert m["recall@100"] == pytest.approx(1.0)


def test_missing_or_empty_query_counts_as_zero():
    qrels = {**QRELS, "q2": {"d9": 1}, "q3": {"d8": 1}}
    perfect = {"d1": 2.0, "d2": 1.0}
    m = ev.score({"q1": perfect, "q3": {}}, qrels)  # q2 absent, q3 found nothing
    assert m["ndcg@10"] == pytest.approx(1 / 3)
    assert m["recall@100"] == pytest.approx(1 / 3)


def test_unjudged_queries_are_ignored():
    m = ev.score({"q1": {"d1": 2.0, "d2": 1.0}, "other": {"x": 1.0}}, QRELS)
    assert m["map"] == pytest.approx(1.0)


def test_run_keeps_engine_order_and_lists_folded_duplicates():
    """Equal engine scores must not be re-sorted by id; duplicates follow their hit."""
    hits = [
        SimpleNamespace(article_id="b", score=1.0, duplicates=["c"]),
        SimpleNamespace(article_id="a", score=1.0, duplicates=[]),
    ]
    engine = SimpleNamespace(search=lambda q: SimpleNamespace(results=hits))
    r = ev.run(engine, {"q": "anything"}, "hybrid", limit=10)
    assert sorted(r["q"], key=r["q"].get, reverse=True) == ["b", "c", "a"]
    with pytest.raises(ValueError):
        ev.run(engine, {"q": "x"}, "fuzzy")


def test_loaders_read_the_tiny_set():
    assert ev.load_queries(EVAL / "queries.jsonl")["q2"] == "interest rate rise inflation"
    qrels = ev.load_qrels(EVAL / "qrels.tsv")  # header line skipped
    assert qrels == {
        "q1": {"volcano": 2, "ashcloud": 1},
        "q2": {"rates": 1},
        "q3": {"wheat": 1},
    }


def test_cache_dir_depends_on_index_settings_only():
    docs = [EVAL / "docs.jsonl"]
    base = Settings()
    assert ev.cache_dir(docs, base) == ev.cache_dir(docs, replace(base, alpha=0.9))
    assert ev.cache_dir(docs, base) != ev.cache_dir(docs, replace(base, title_boost=3.0))
    assert ev.cache_dir(docs, base).name.startswith("eval-")


def test_format_table_is_markdown():
    table = ev.format_table({"keyword": {"ndcg@10": 0.5, "map": 0.25, "qps": 12.34}})
    lines = table.splitlines()
    assert lines[0].split("|")[1].strip() == "mode"
    assert "0.5000" in lines[2] and "12.3" in lines[2]


def test_eval_cli_on_tiny_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The real command, model and index: keyword mode puts the relevant article first."""
    monkeypatch.setenv("NEWSEARCH_INDEX_DIR", str(tmp_path / "must-not-be-used"))
    args = [
        "eval",
        "--docs", str(EVAL / "docs.jsonl"),
        "--queries", str(EVAL / "queries.jsonl"),
        "--qrels", str(EVAL / "qrels.tsv"),
        "--mode", "all",
        "--json",
        "--index-dir", str(tmp_path / "index"),
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    modes = json.loads(result.stdout)["modes"]
    ours = {"keyword", "semantic", "hybrid"}
    assert set(modes) == ours | {f"peer {m}" for m in ours}  # the peer runs beside us
    for name, metrics in modes.items():
        quality = {"ndcg@10", "map", "mrr@10", "recall@100"}
        if name in ours:
            assert set(metrics) == quality | {"set_size", "set_precision", "set_recall", "qps"}
            assert metrics["qps"] > 0 and metrics["set_size"] >= 1
            assert 0.0 < metrics["set_precision"] <= 1.0 and 0.0 < metrics["set_recall"] <= 1.0
        else:
            assert set(metrics) == quality
        assert all(0.0 <= metrics[k] <= 1.0 for k in quality)
    assert modes["keyword"]["mrr@10"] == 1.0  # a relevant article is first for every query
    assert not (tmp_path / "must-not-be-used").exists()

    again = CliRunner().invoke(main, [a if a != "all" else "keyword" for a in args])
    assert again.exit_code == 0, again.output
    assert "indexed" not in again.output  # the index was reused, not rebuilt
    assert json.loads(again.stdout)["modes"]["keyword"]["mrr@10"] == 1.0
