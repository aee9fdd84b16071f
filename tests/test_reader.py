"""Issue #15, as a news reader sees it, on real Wikinews articles in headless Chromium.

An index is built from ``tests/data/wikinews/sample.jsonl`` (36 articles) and served over
HTTP. The viewport is set exactly (1280×800, 390×844) through the DevTools protocol, so
"above the fold" means the whole result lies inside the first screen.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from search.build import build_index
from search.config import Settings
from web import create_app

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
feedparser = pytest.importorskip("feedparser")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SAMPLE = Path(__file__).parent / "data" / "wikinews" / "sample.jsonl"
DESKTOP = (1280, 800)
PHONE = (390, 844)
BROAD = "government"  # matches many sample articles, so the fold is really filled


@pytest.fixture(scope="module")
def wikinews(tmp_path_factory) -> Settings:
    settings = Settings.from_env(index_dir=tmp_path_factory.mktemp("wikinews-index"))
    build_index([SAMPLE], settings)
    return settings


@pytest.fixture(scope="module")
def articles() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def app(wikinews):
    return create_app({"TESTING": True, "SETTINGS": wikinews})


@pytest.fixture(scope="module")
def server(app) -> Iterator[str]:
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="reader-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=5)


@pytest.fixture()
def chrome(browser, server):
    browser.get_log("browser")
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"browser console errors: {errors}"


def viewport(driver, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def visit(driver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "main")))


def above_the_fold(driver) -> int:
    return driver.execute_script(
        "return [...document.querySelectorAll('.hit')]"
        ".filter(e => e.getBoundingClientRect().bottom <= window.innerHeight).length"
    )


def args_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.parametrize(("size", "wanted"), [(DESKTOP, 4), (PHONE, 2)])
@pytest.mark.parametrize("path", [f"/?q={BROAD}", "/"])
def test_results_above_the_fold(chrome, server, size, wanted, path):
    viewport(chrome, size)
    visit(chrome, server + path)
    assert chrome.execute_script("return window.innerWidth") == size[0]
    assert len(chrome.find_elements(By.CSS_SELECTOR, ".hit")) >= wanted
    assert above_the_fold(chrome) >= wanted, f"{path} at {size}"
    scroll = chrome.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= size[0], "no sideways scrolling"


def test_snippets_are_short_highlighted_and_full_text_stays_in_the_api(chrome, server, app):
    viewport(chrome, DESKTOP)
    visit(chrome, server + f"/?q={BROAD}")
    snippets = chrome.find_elements(By.CSS_SELECTOR, ".hit .snippet")
    assert snippets and all(len(s.text) <= 300 + 4 for s in snippets)
    assert any(s.text.endswith("…") or s.text.startswith("…") for s in snippets)
    assert all(s.find_elements(By.TAG_NAME, "mark") for s in snippets[:3])
    body = app.test_client().get(f"/api/search?q={BROAD}").get_json()
    longest = max(len(p["text"]) for h in body["results"] for p in h["paragraphs"])
    assert longest > 300, "the API still returns whole paragraphs"
    more = chrome.find_element(By.CSS_SELECTOR, ".hit details.more")
    passage = more.find_element(By.CSS_SELECTOR, ".passage")
    assert not passage.is_displayed()
    more.find_element(By.TAG_NAME, "summary").click()
    assert passage.is_displayed() and len(passage.text) > 0
    why = chrome.find_element(By.CSS_SELECTOR, ".hit .why").text
    assert why.startswith(("Matched your words: ", "Close in meaning to your query"))
    assert "score" not in chrome.find_element(By.CSS_SELECTOR, ".hits").text.lower()


def test_captions_are_not_chosen_as_snippets(app):
    html = app.test_client().get("/?q=Parliament+Square+march+Image").get_data(as_text=True)
    snippets = re.findall(r'<p class="snippet" dir="auto">(.*?)</p>', html, re.S)
    assert snippets
    assert not [s for s in snippets if "Image:" in s], "captions were chosen as snippets"


def test_article_from_a_navalny_search_highlights_and_links_back(chrome, server):
    viewport(chrome, DESKTOP)
    results_url = server + "/?q=Navalny&source=wikinews"
    visit(chrome, results_url)
    titles = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, ".hit-title a")]
    assert "Navalny" in titles[0]
    link = chrome.find_element(By.CSS_SELECTOR, ".hit-title a")
    link.click()
    WebDriverWait(chrome, 10).until(EC.staleness_of(link))
    url = urlsplit(chrome.current_url)
    assert url.path.startswith("/articles/")
    assert args_of(chrome.current_url)["q"] == ["Navalny"], "the query stays in the URL"
    assert chrome.find_element(By.ID, "q").get_attribute("value") == "Navalny"
    marks = chrome.find_elements(By.CSS_SELECTOR, ".article-body mark")
    assert marks and {m.text for m in marks} == {"Navalny"}
    assert "Navalny" in chrome.find_element(By.CSS_SELECTOR, "h1 mark").text
    target = chrome.find_element(By.ID, url.fragment)  # the best passage, scrolled to
    assert target.find_elements(By.TAG_NAME, "mark")
    assert chrome.execute_script("return document.querySelector(':target') !== null")
    back = chrome.find_element(By.CSS_SELECTOR, "a.back-link")
    back.click()
    WebDriverWait(chrome, 10).until(EC.staleness_of(back))
    assert args_of(chrome.current_url) == args_of(results_url) | {"mode": ["hybrid"]}
    assert [e.text for e in chrome.find_elements(By.CSS_SELECTOR, ".hit-title a")] == titles


@pytest.mark.parametrize("size", [PHONE, DESKTOP])
def test_jump_to_the_first_passage_keeps_the_headline_and_back_link_in_view(
    chrome, server, app, size
):
    """#p0 lies just under the headline: the page lands on its top (on a 390 px phone the
    headline and the way back used to scroll off); a deeper passage is scrolled to."""
    viewport(chrome, size)
    hit = app.test_client().get("/api/search?q=Navalny+airlifted&limit=1").get_json()["results"][0]
    article = server + "/articles/" + quote(hit["article_id"], safe="") + "?q=Navalny+airlifted"

    def in_view(selector: str) -> bool:
        return chrome.execute_script(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
            "return r.top >= 0 && r.bottom <= window.innerHeight",
            selector,
        )

    visit(chrome, article + "#p0")
    assert chrome.execute_script("return document.querySelector(':target').id") == "p0"
    assert in_view("a.back-link") and in_view(".article h1")
    visit(chrome, article + "#p3")
    top = chrome.execute_script("return document.getElementById('p3').getBoundingClientRect().top")
    assert 0 <= top < size[1] - 100, "a deeper passage is scrolled into view"


def test_related_stories_are_close_and_keep_the_search(chrome, server, app, wikinews):
    viewport(chrome, DESKTOP)
    client = app.test_client()
    hit = client.get("/api/search?q=Navalny+airlifted&limit=1").get_json()["results"][0]
    nearest = client.get(f"/api/articles/{hit['article_id']}/related?limit=5").get_json()
    shown = nearest["results"]  # the API and the page share related_threshold
    assert shown and all(r["score"] >= wikinews.related_threshold for r in shown)
    visit(chrome, server + "/?q=Navalny+airlifted")
    chrome.find_element(By.CSS_SELECTOR, ".hit-title a").click()
    WebDriverWait(chrome, 10).until(EC.presence_of_element_located((By.ID, "related-heading")))
    links = chrome.find_elements(By.CSS_SELECTOR, "#related-heading ~ .stories a")
    assert [a.text for a in links] == [r["title"] for r in shown]
    assert args_of(links[0].get_attribute("href"))["q"] == ["Navalny airlifted"]


def test_back_to_results_keeps_filters_and_page(chrome, server):
    viewport(chrome, DESKTOP)
    start = server + f"/?q={BROAD}&sort=date&limit=3&offset=3&from=2019-01-01"
    visit(chrome, start)
    titles = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, ".hit-title a")]
    link = chrome.find_elements(By.CSS_SELECTOR, ".hit-title a")[1]
    link.click()
    WebDriverWait(chrome, 10).until(EC.staleness_of(link))
    aside = chrome.find_element(By.CSS_SELECTOR, ".article-aside").rect
    text = chrome.find_element(By.CSS_SELECTOR, ".article").rect
    assert aside["x"] >= text["x"] + text["width"], "related stories sit beside the text"
    chrome.find_element(By.CSS_SELECTOR, ".article-aside .back a").click()
    WebDriverWait(chrome, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".hits")))
    want = {"q": [BROAD], "mode": ["hybrid"], "sort": ["date"], "limit": ["3"], "offset": ["3"]}
    assert args_of(chrome.current_url) == want | {"from": ["2019-01-01"]}
    assert [e.text for e in chrome.find_elements(By.CSS_SELECTOR, ".hit-title a")] == titles


def test_empty_query_lists_the_newest_first(chrome, server, articles):
    viewport(chrome, DESKTOP)
    visit(chrome, server + "/")
    newest = max(articles, key=lambda a: a["date"])
    assert chrome.find_element(By.CSS_SELECTOR, "h1").text == "Latest news"
    assert chrome.find_element(By.CSS_SELECTOR, ".hit-title a").text == newest["title"]
    dates = [
        e.get_attribute("datetime") for e in chrome.find_elements(By.CSS_SELECTOR, ".hit time")
    ]
    assert len(dates) == 10 and dates == sorted(dates, reverse=True)
    following = chrome.find_element(By.CSS_SELECTOR, "a[rel=next]")
    following.click()
    WebDriverWait(chrome, 10).until(EC.staleness_of(following))
    later = [
        e.get_attribute("datetime") for e in chrome.find_elements(By.CSS_SELECTOR, ".hit time")
    ]
    assert later and max(later) <= min(dates), "page 2 continues where page 1 stopped"


def test_empty_query_in_the_api_is_the_front_page(app, articles):
    client = app.test_client()
    body = client.get("/api/search?q=&sort=date&source=WIKINEWS&limit=5").get_json()
    by_date = sorted(articles, key=lambda a: a["date"], reverse=True)
    assert body["total"] == len(articles)
    assert [h["title"] for h in body["results"]][:1] == [by_date[0]["title"]]
    assert [h["date"] for h in body["results"]] == [a["date"] for a in by_date[:5]]
    html = client.get("/?source=WIKINEWS&limit=5").get_data(as_text=True)
    first = re.search(r'class="hit-title">\s*<a dir="auto" href="[^"]*">(.*?)</a>', html)
    assert first and first.group(1) == by_date[0]["title"].replace("'", "&#39;")
    assert client.get("/api/search?q=&sort=relevance").status_code == 400
    window = client.get("/api/search?sort=date&from=2020-01-01&to=2020-06-30").get_json()
    assert window["results"] and all(
        "2020-01-01" <= h["date"] <= "2020-06-30" for h in window["results"]
    )


def test_every_result_page_links_its_atom_feed(app):
    html = app.test_client().get("/?q=Navalny&source=Wikinews").get_data(as_text=True)
    (href,) = re.findall(
        r'<link rel="alternate" type="application/atom\+xml" [^>]*href="([^"]+)"', html
    )
    assert href.startswith("/search.atom?") and args_of(href.replace("&amp;", "&")) == {
        "q": ["Navalny"],
        "mode": ["hybrid"],
        "source": ["Wikinews"],
    }
    assert 'class="feed-link"' in html


def test_atom_feed_parses_and_starts_with_the_newest_match(app):
    client = app.test_client()
    response = client.get("/search.atom?q=Navalny")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "newsearch: Navalny" and feed.feed.id and feed.feed.updated
    entries = feed.entries
    assert entries and all(e.id and e.title and e.updated for e in entries)
    stamps = [e.updated_parsed for e in entries]
    assert stamps == sorted(stamps, reverse=True), "newest first"
    newest = client.get("/api/search?q=Navalny&sort=date&limit=1").get_json()["results"][0]
    assert entries[0].title == newest["title"]
    assert entries[0].updated.startswith(newest["date"])
    assert "/articles/" in entries[0].link
    latest = feedparser.parse(client.get("/search.atom").data)
    assert not latest.bozo and latest.feed.title == "newsearch: latest news"
    assert client.get("/search.atom?limit=0").status_code == 400
