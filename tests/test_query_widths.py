"""Query inputs padded to a few widths (search/embed/openvino_backend.QUERY_WIDTHS): the vector is
the unpadded one, and after a server's warm-up no query runs an input shape OpenVINO has not
compiled yet (the first one of each costs 17-55 ms, which was most of the search p99)."""

from __future__ import annotations

import numpy as np
import pytest

from search.embed import embedder_for
from search.embed.openvino_backend import QUERY_WIDTHS, OpenVINOEmbedder, batches
from search.engine import Engine

WORDS = "wheat harvest drought cuts prices central bank rates oil output talks".split()


def text_of(embedder: OpenVINOEmbedder, tokens: int) -> str:
    """A text the model reads as ``tokens`` word pieces ([CLS] and [SEP] included)."""
    words: list[str] = []
    while embedder.count_tokens(" ".join(words)) < tokens:
        words.append(WORDS[len(words) % len(WORDS)])
    assert embedder.count_tokens(" ".join(words)) == tokens
    return " ".join(words)


class Recorder:
    """An infer request that notes the width of every input it runs."""

    def __init__(self, request) -> None:  # noqa: ANN001
        self.request, self.widths = request, []

    def infer(self, feed):  # noqa: ANN001, ANN201
        self.widths.append(feed["input_ids"].shape[1])
        return self.request.infer(feed)


@pytest.fixture(scope="module")
def embedder(settings) -> OpenVINOEmbedder:  # noqa: ANN001
    emb = embedder_for(settings, "openvino-int8")
    assert isinstance(emb, OpenVINOEmbedder)
    return emb


def test_the_widths_are_the_buckets_up_to_the_models_limit(embedder):
    assert embedder.query_widths == QUERY_WIDTHS == (8, 16, 24, 40, 64, 128, 256)
    assert embedder.max_tokens == 256
    assert 32 not in embedder.query_widths  # see QUERY_WIDTHS: this OpenVINO gets 32 wrong


@pytest.mark.parametrize("tokens", [3, 8, 9, 17, 23, 25, 31, 33, 41, 70, 130, 256, 400])
def test_a_padded_query_vector_is_the_unpadded_one(embedder, tokens):
    """Each length against the same text run at its own length. Lengths 25-31 would be padded
    to 32 if that were a width: on this OpenVINO that changes the vector (cosine ~0.9)."""
    text = text_of(embedder, tokens) if tokens <= 256 else " ".join(WORDS * 60)
    embedder.clear_cache()
    got = embedder.encode_query(text)
    ((rows, feed),) = batches(embedder._tok, [text], 1)  # no widths: its own length
    assert feed["input_ids"].shape[1] == min(tokens, 256)
    want = embedder._request.infer(feed)[0][0]
    # Float rounding only (bf16 inside: 0 for most lengths, up to ~4e-4 padded 70 -> 128 with the
    # v3 export, cosine 0.999997); width 32 was ~0.07 off, cosine ~0.9.
    assert np.abs(got - want).max() < 2e-3
    assert float(got @ want) > 0.99999
    assert abs(float(np.linalg.norm(got)) - 1) < 1e-3


def test_small_lists_are_padded_to_a_width_and_big_ones_are_not(embedder):
    texts = [text_of(embedder, n) for n in (5, 11, 19)]
    assert [
        f["input_ids"].shape[1] for _, f in batches(embedder._tok, texts, 64, QUERY_WIDTHS)
    ] == [24]
    assert [f["input_ids"].shape[1] for _, f in embedder.feeds(texts)] == [19]
    assert [f["attention_mask"].sum(axis=1).tolist() for _, f in embedder.feeds(texts)] == [
        [5, 11, 19]
    ]


def test_after_warm_up_no_query_runs_a_new_width(settings, built_index, embedder):
    """A fresh embedder (the shared one may be warm already): the engine's warm-up runs every
    width once, and queries of every length afterwards run only those widths."""
    fresh = OpenVINOEmbedder(
        embedder.model_name, embedder.ir_path, embedder.backend, embedder.batch_size
    )
    recorder = Recorder(fresh._request)
    fresh._request = recorder
    engine = Engine.open(settings, embedder=fresh)
    thread = engine.warm_up()
    assert thread is not None
    thread.join(60)
    assert sorted(recorder.widths) == list(fresh.query_widths)
    assert fresh.warm_widths == set(fresh.query_widths)
    warmed = len(recorder.widths)
    for n in (3, 4, 7, 12, 20, 31, 32, 33, 50, 100, 200, 256):
        fresh.encode_query(text_of(fresh, n))
    assert set(recorder.widths[warmed:]) <= set(fresh.query_widths)
    assert len(recorder.widths) == warmed + 12
    fresh.warm_up()  # nothing left to warm: runs nothing
    assert len(recorder.widths) == warmed + 12


def test_the_web_app_warms_the_engine_it_opens(settings, built_index, monkeypatch):
    from web import create_app

    warmed = []
    monkeypatch.setattr(Engine, "warm_up", lambda self: warmed.append(self))
    app = create_app({"TESTING": True, "SETTINGS": settings})
    assert warmed == [app.extensions["newsearch"]]
