"""Filters, facets, sorting, recency and "did you mean" through the API and the page."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from web import create_app
from web.links import MAX_MONTH_ROWS, date_facets, days, month_label, search_url

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"
SOURCES = {"Example Wire", "Coastal Herald", "Tech Daily"}


def api(client, **params):
    response = client.get("/api/search", query_string=params)
    assert response.is_json, response.data[:200]
    return response, response.get_json()


def page(client, **params):
    response = client.get("/", query_string=params)
    return response, response.get_data(as_text=True)


def hrefs(html: str, pattern: str) -> list[dict[str, list[str]]]:
    """The query arguments of every link whose anchor text matches ``pattern``."""
    out = []
    for href, text in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>(.*?)</a>', html, re.S):
        if re.search(pattern, re.sub(r"<[^>]+>", " ", text)):
            out.append(parse_qs(urlsplit(unescape(href)).query))
    return out


# --- the API passes every parameter through -------------------------------------------------


def test_facets_and_suggestion_in_json(client):
    response, body = api(client, q="Idlb de-escalaton")
    assert response.status_code == 200
    assert body["suggestion"] == "idlib de-escalation"
    sources = {f["value"]: f["count"] for f in body["facets"]["source"]}
    assert set(sources) <= SOURCES and sum(sources.values()) <= body["total"]
    assert all(re.fullmatch(r"2019-\d\d", f["period"]) for f in body["facets"]["date"])


def test_source_filter(client):
    _, body = api(client, q="Syria", source="Coastal Herald", limit=20)
    assert body["results"] and {h["source"] for h in body["results"]} == {"Coastal Herald"}
    assert body["facets"]["source"] == [{"value": "Coastal Herald", "count": body["total"]}]
    _, both = api(client, q="Syria", source=["Coastal Herald", "Tech Daily"], limit=20)
    assert {h["source"] for h in both["results"]} == {"Coastal Herald", "Tech Daily"}


def test_date_filter_is_inclusive(client):
    _, body = api(client, q="Syria", **{"from": "2019-01-05", "to": "2019-01-05"})
    assert [h["date"] for h in body["results"]] == ["2019-01-05"]
    _, body = api(client, q="Syria", **{"from": "2019-06-01"}, limit=20)
    assert body["results"] and all(h["date"] >= "2019-06-01" for h in body["results"])


def test_sort_by_date(client):
    _, body = api(client, q="Syria", sort="date", limit=20)
    dates = [h["date"] for h in body["results"] if h["date"]]
    assert len(dates) > 2 and dates == sorted(dates, reverse=True)
    assert body["results"][-1]["date"] is None, "undated articles sort last"


def test_recency_is_accepted_and_changes_scores(client):
    _, plain = api(client, q="Syria", limit=20)
    _, recent = api(client, q="Syria", limit=20, recency="7")
    assert plain["total"] == recent["total"]
    assert [h["score"] for h in plain["results"]] != [h["score"] for h in recent["results"]]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"from": "2019-02-30"}, "from"),
        ({"to": "2019-1-5"}, "to"),
        ({"from": "2019-06-02", "to": "2019-06-01"}, "from"),
        ({"source": "s" * 201}, "source"),
        ({"source": [f"s{i}" for i in range(21)]}, "source"),
        ({"sort": "newest"}, "sort"),
        ({"recency": "0"}, "recency"),
        ({"recency": "36501"}, "recency"),
        ({"recency": "soon"}, "recency"),
        ({"from": ["2019-01-01", "2019-01-02"]}, "from"),
    ],
)
def test_bad_filter_parameters(client, params, param):
    response, body = api(client, q="Syria", **params)
    assert response.status_code == 400
    assert body["error"]["code"] == "bad_parameter" and body["error"]["param"] == param
    response, html = page(client, q="Syria", **params)
    assert response.status_code == 400 and "Cannot run this search" in html


# --- the page: controls, facet links, active filters, suggestion ---------------------------


def test_filter_controls_show_the_current_values(client):
    response, html = page(
        client,
        q="Syria",
        source="Coastal Herald",
        sort="date",
        recency="30",
        **{"from": "2019-01-01", "to": "2019-12-31"},
    )
    assert response.status_code == 200
    assert re.search(
        r'<label for="from">From</label>\s*<input id="from" name="from" '
        r'type="date" value="2019-01-01">',
        html,
    )
    assert 'id="to" name="to" type="date" value="2019-12-31"' in html
    assert '<option value="date" selected>Newest first</option>' in html
    assert '<option value="30" selected>30 days</option>' in html
    assert '<input type="hidden" name="source" value="Coastal Herald">' in html


def test_unusual_recency_gets_its_own_option(client):
    _, html = page(client, q="Syria", recency="2.5")
    assert '<option value="2.5" selected>2.5 days</option>' in html
    _, html = page(client, q="Syria", recency="12345.678901", limit="1")
    assert '<option value="12345.678901" selected>' in html
    (following,) = hrefs(html, r"Next")
    assert following["recency"] == ["12345.678901"], "no precision lost between pages"
    response, html = page(client, q="Syria", recency="<b>")
    assert response.status_code == 400 and "<b> days" not in html and "&lt;b&gt; days" not in html


def test_days():
    assert (days(30.0), days(2.5), days(1.000001), days(36500)) == (
        "30",
        "2.5",
        "1.000001",
        "36500",
    )


def test_source_facet_links_add_a_source(client):
    _, html = page(client, q="Syria", sort="date")
    links = hrefs(html, r"Coastal Herald")
    assert links == [
        {"q": ["Syria"], "mode": ["hybrid"], "source": ["Coastal Herald"], "sort": ["date"]}
    ]


def test_active_facet_is_not_a_link(client):
    _, html = page(client, q="Syria", source="Coastal Herald")
    assert not hrefs(html, r"^\s*Coastal Herald\s")
    assert re.search(
        r'class="facet-link is-active" aria-current="true">\s*'
        r'<span class="facet-label">Coastal Herald',
        html,
    )


def test_month_facet_links_set_the_whole_month(client):
    _, html = page(client, q="Syria", offset="0", limit="3")
    (feb,) = hrefs(html, r"Feb 2019")
    assert feb["from"] == ["2019-02-01"] and feb["to"] == ["2019-02-28"]
    assert feb["limit"] == ["3"] and "offset" not in feb
    assert re.search(r'<rect\s+class="bar-fill" width="[\d.]+" height="10"></rect>', html)


def test_active_filters_each_have_a_remove_link(client):
    _, html = page(
        client,
        q="Syria",
        source=["Coastal Herald", "Tech Daily"],
        sort="date",
        recency="7",
        **{"from": "2019-01-01", "to": "2019-12-31"},
    )
    removes = hrefs(html, r"^remove$")
    assert len(removes) == 6
    removed = [{"from", "to", "source", "sort", "recency"} - set(args) for args in removes]
    assert removed[:2] == [{"from"}, {"to"}]
    assert [args["source"] for args in removes[2:4]] == [["Tech Daily"], ["Coastal Herald"]]
    assert removed[4:] == [{"sort"}, {"recency"}]
    assert 'aria-label="Remove filter: Source: Tech Daily"' in html
    (clear,) = hrefs(html, r"Clear all")
    assert clear == {"q": ["Syria"], "mode": ["hybrid"]}


def test_no_filter_list_without_filters(client):
    _, html = page(client, q="Syria")
    assert "active-filters" not in html and "Clear all" not in html


def test_did_you_mean_link_keeps_the_filters(client):
    _, html = page(client, q="Idlb de-escalaton", source="Coastal Herald", offset="0")
    (args,) = hrefs(html, r"^idlib de-escalation$")
    assert args == {"q": ["idlib de-escalation"], "mode": ["hybrid"], "source": ["Coastal Herald"]}
    assert "Did you mean:" in html


def test_no_suggestion_for_a_correct_query(client):
    _, html = page(client, q="Idlib de-escalation")
    assert "Did you mean" not in html


def test_explain_mentions_recency(client):
    _, html = page(client, q="Syria", recency="30", mode="keyword")
    assert "after favouring recent stories (half-life 30 days)" in html


def test_empty_result_with_filters_suggests_removing_one(client):
    _, html = page(client, q="Syria", **{"from": "2030-01-01"})
    assert "No articles match" in html and "remove a filter" in html


# --- pure helpers ---------------------------------------------------------------------------


def test_month_label():
    assert month_label("2019-03") == "Mar 2019"
    assert month_label("2019") == "2019"
    assert month_label("nonsense") == "nonsense"


def test_many_months_become_years(settings):
    from search.models import Query

    facet = [
        {"period": f"{y}-{m:02d}", "count": 1} for y in (2017, 2018, 2019) for m in range(1, 13)
    ]
    assert len(facet) > MAX_MONTH_ROWS
    with create_app(
        {"TESTING": True, "SETTINGS": settings, "ENGINE": object()}
    ).test_request_context():
        out = date_facets(Query("q"), facet)
        assert out["unit"] == "year"
        assert [(r["label"], r["count"], r["bar"]) for r in out["rows"]] == [
            ("2017", 12, 100.0),
            ("2018", 12, 100.0),
            ("2019", 12, 100.0),
        ]
        args = parse_qs(urlsplit(out["rows"][1]["url"]).query)
        assert args["from"] == ["2018-01-01"] and args["to"] == ["2018-12-31"]
        active = date_facets(Query("q", date_from="2018-01-01", date_to="2018-12-31"), facet)
        assert [r["active"] for r in active["rows"]] == [False, True, False]
        assert active["rows"][1]["url"] is None
        assert "offset" not in search_url(Query("q", offset=20), sort="date")
