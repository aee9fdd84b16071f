"""The HTML search page: form, results, escaping, pagination and friendly errors."""

from __future__ import annotations

import re

import pytest
from markupsafe import Markup

from search.models import (
    ArticleHit,
    ArticleView,
    Facets,
    ParagraphHit,
    PeriodCount,
    Query,
    Results,
    SourceCount,
)
from web import create_app
from web.links import page_links
from web.present import explain_hit, highlight, safe_url

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"


def page(client, **params):
    response = client.get("/", query_string=params)
    return response, response.get_data(as_text=True)


def test_form_renders_without_inline_script_or_style(client):
    response, html = page(client)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert re.search(r'<form[^>]*method="get"', html)
    assert 'name="q"' in html
    for mode in ("keyword", "semantic", "hybrid"):
        assert f'<option value="{mode}"' in html
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert 'href="/static/style.css"' in html


def test_stylesheet_is_served(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200 and "mark" in response.get_data(as_text=True)


def test_query_and_mode_kept_in_the_form(client):
    response, html = page(client, q='Idlib "zone"', mode="semantic")
    assert response.status_code == 200
    assert 'value="Idlib &#34;zone&#34;"' in html
    assert '<option value="semantic" selected>' in html


def test_results_shown(client):
    response, html = page(client, q="Idlib de-escalation")
    assert response.status_code == 200
    assert SEED_TITLE in html
    assert "<mark>Idlib</mark>" in html
    assert re.search(
        r'<p class="why">Matched your words: [^<]*Idlib[^<]* and close in meaning to your '
        r"query\.</p>",
        html,
    )
    assert "BM25" not in html and "score" not in html, "scores stay in the API"
    link = re.search(r'<a dir="auto" href="(/articles/[0-9a-f]+\?[^"#]*#p\d+)">(.*?)</a>', html)
    assert link and re.sub(r"</?mark>", "", link.group(2)) == SEED_TITLE
    assert "q=Idlib+de-escalation" in link.group(1)
    assert re.search(r"Results 1–\d+ of \d+ articles?", html)
    assert html.count('class="snippet"') >= 1


def test_script_query_is_escaped(client):
    response, html = page(client, q="<script>alert(1)</script>")
    assert response.status_code == 200
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_empty_results_message(client):
    response, html = page(client, q="<b>zzqxjv</b>", mode="keyword")
    assert response.status_code == 200
    assert "No articles match" in html
    assert "&lt;b&gt;zzqxjv&lt;/b&gt;" in html and "<b>zzqxjv" not in html


def test_pagination_links(client):
    total = client.get("/api/search?q=Syria&mode=hybrid").get_json()["total"]
    assert total > 1, "the test corpus should give more than one result for Syria"
    response, html = page(client, q="Syria", mode="hybrid", limit=1)
    assert response.status_code == 200
    nxt = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert nxt, "expected a next-page link"
    href = nxt.group(1).replace("&amp;", "&")
    assert "q=Syria" in href and "mode=hybrid" in href and "offset=1" in href and "limit=1" in href
    assert 'rel="prev"' not in html

    response = client.get(href)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<a rel="prev" href="[^"]*q=Syria', html)
    assert f"Results 2–2 of {total}" in html


def test_default_step_is_ten(client):
    response, html = page(client, q="Syria", offset=10)
    assert response.status_code == 200
    prev = re.search(r'<a rel="prev" href="([^"]+)"', html)
    assert prev and "offset=" not in prev.group(1)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "limit": "abc"},
        {"q": "x", "limit": "0"},
        {"q": "x", "offset": "-1"},
        {"q": "x", "mode": "bogus"},
        {"q": "a" * 1001},
    ],
)
def test_bad_parameters_give_a_400_page(client, params):
    response, html = page(client, **params)
    assert response.status_code == 400
    assert "Cannot run this search" in html
    assert "Traceback" not in html
    assert 'name="q"' in html


def test_bad_limit_message(client):
    response, html = page(client, q="x", limit="abc")
    assert response.status_code == 400
    assert "limit must be an integer between 1 and 100" in html


def test_unknown_page_is_html_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Back to search" in response.get_data(as_text=True)


def test_not_ready_page(tmp_path):
    client = create_app({"TESTING": True, "INDEX_DIR": tmp_path}).test_client()
    response, html = page(client, q="syria")
    assert response.status_code == 503
    assert "not ready" in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


class _HostileEngine:
    """Returns data an attacker might have put into the corpus."""

    def search(self, query: Query) -> Results:
        para = ParagraphHit(
            paragraph_id="evil:0",
            text="<img src=x onerror=alert(1)> evil",
            highlighted="&lt;img src=x onerror=alert(1)&gt; <mark>evil</mark>",
            keyword_rank=1,
            keyword_score=3.0,
        )
        sneaky = ParagraphHit(
            paragraph_id="evil:1", text="plain <text>", highlighted="<iframe src=x></iframe>"
        )
        hits = [
            ArticleHit(
                "evil",
                "<script>alert(1)</script>",
                "2020-01-01",
                "<i>src</i>",
                "javascript:alert(1)",
                1.0,
                [para, sneaky],
                ["<u>dup</u>", "gone"],
            ),
            ArticleHit("ok", "Fine", None, None, "https://example.org/a?b=1&c=2", 0.5, [para]),
        ]
        facets = Facets(
            [SourceCount("<script>alert(2)</script>", 1)],
            [PeriodCount("2019-13", 1), PeriodCount("<b>", 1)],
        )
        return Results(query.text, query.mode, 2, 1.0, hits, "<b>notice</b>", "<b>sugg</b>", facets)

    def highlight(self, text: str, texts: list[str]) -> list[str]:
        return ["<script>alert(3)</script>" for _ in texts]  # a broken highlighter

    def article(self, article_id: str) -> ArticleView | None:
        if article_id == "gone":
            return None
        return ArticleView(article_id, "<em>copy</em>", None, "<s>x</s>", None, None)


def test_corpus_text_cannot_inject_markup(settings):
    app = create_app({"TESTING": True, "SETTINGS": settings, "ENGINE": _HostileEngine()})
    response, html = page(app.test_client(), q="evil")
    assert response.status_code == 200
    assert "javascript:" not in html
    assert "<script>alert" not in html and "<img" not in html and "<iframe" not in html
    assert "<i>src" not in html and "<b>notice" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>evil</mark>" in html
    assert "plain &lt;text&gt;" in html
    assert 'href="https://example.org/a?b=1&amp;c=2"' in html
    assert "<b>sugg" not in html and "&lt;b&gt;sugg&lt;/b&gt;</a>" in html
    assert "<script>alert(2)" not in html and "&lt;script&gt;alert(2)" in html
    assert "alert(3)" not in html, "a highlighted title that is not the title is not used"
    assert "<u>dup" not in html and "<em>copy" not in html and "<s>x" not in html
    assert "2 similar stories" in html
    assert 'href="/articles/%3Cu%3Edup%3C/u%3E"' in html
    assert 'href="/articles/gone">gone</a>' in html, "an unknown duplicate id is still listed"
    assert "<style" not in html and "style=" not in html and "<script" not in html


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/x", "https://example.org/x"),
        ("http://example.org", "http://example.org"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,hi", None),
        ("//evil.example/x", None),
        ("/relative", None),
        ("https://", None),
        ('https://e.org/"onmouseover=x', None),
        (None, None),
        ("", None),
    ],
)
def test_safe_url(url, expected):
    assert safe_url(url) == expected


def test_highlight_lets_only_mark_through():
    assert highlight(ParagraphHit("a:0", "a & b", "a &amp; <mark>b</mark>")) == Markup(
        "a &amp; <mark>b</mark>"
    )
    assert highlight(ParagraphHit("a:0", "<b>x</b>", "<b>x</b>")) == "&lt;b&gt;x&lt;/b&gt;"


def _hit(title: str, *paragraphs: ParagraphHit) -> ArticleHit:
    return ArticleHit("a", title, None, None, None, 1.0, list(paragraphs))


def test_explain_hit_in_words():
    both = ParagraphHit(
        "a:0",
        "Turkey and Russia on Idlib.",
        "Turkey and Russia on <mark>Idlib</mark>.",
        keyword_rank=1,
        semantic_rank=1,
    )
    hit = _hit("Talks on Idlib", both)
    assert explain_hit(hit, "Talks on <mark>Idlib</mark>") == (
        "Matched your words: Idlib (in the title) and close in meaning to your query."
    )
    assert explain_hit(hit, "Talks on Idlib") == (
        "Matched your words: Idlib and close in meaning to your query."
    )
    meaning = ParagraphHit("a:0", "Other words.", "Other words.", semantic_rank=4)
    assert explain_hit(_hit("T", meaning)) == "Close in meaning to your query."
    words = ParagraphHit(
        "a:0",
        "Brexit and the parliament; BREXIT again.",
        "<mark>Brexit</mark> and the <mark>parliament</mark>; <mark>BREXIT</mark> again.",
        keyword_rank=2,
    )
    assert explain_hit(_hit("T", words), None, 7.0) == (
        "Matched your words: Brexit, parliament; recent stories favoured."
    )
    assert explain_hit(_hit("T", ParagraphHit("a:0", "x", "x"))) == ""


def test_page_links_stop_at_the_ends(app):
    with app.test_request_context():
        first = page_links(Query("q", limit=10, offset=0), 25, 10_000)
        assert first.previous is None and "offset=10" in first.next
        assert (first.page, first.pages) == (1, 3)
        last = page_links(Query("q", limit=10, offset=20), 25, 10_000)
        assert last.next is None and "offset=10" in last.previous
        assert (last.page, last.pages) == (3, 3)
        capped = page_links(Query("q", limit=10, offset=10_000), 50_000, 10_000)
        assert capped.next is None


def test_page_links_keep_every_filter(app):
    query = Query("q", "keyword", 5, 5, "2019-01-01", "2019-06-30", ("A & B", "C"), "date", 30.0)
    with app.test_request_context():
        links = page_links(query, 100, 10_000)
    for href in (links.previous, links.next):
        for part in (
            "q=q",
            "mode=keyword",
            "limit=5",
            "from=2019-01-01",
            "to=2019-06-30",
            "source=A+%26+B",
            "source=C",
            "sort=date",
            "recency=30",
        ):
            assert part in href, (part, href)
    assert "offset=" not in links.previous and "offset=10" in links.next


def test_explanation_names_a_word_once():
    para = ParagraphHit(
        "a:0",
        "Elections and the election: election's day.",
        "<mark>Elections</mark> and the <mark>election</mark>: <mark>election</mark>&#x27;s day.",
        keyword_rank=1,
    )
    assert explain_hit(_hit("T", para)) == "Matched your words: Elections."


def test_no_results_page_says_it_once_and_lists_what_to_try(client):
    response, html = page(client, q="xylophone zebra quasar")
    assert response.status_code == 200
    assert html.count("No articles match") == 1  # the engine's notice, not a second copy
    assert re.search(r'<ul class="hints">\s*<li dir="auto">[^<]+</li>', html)
    assert 'href="/"' in html and "latest news" in html
