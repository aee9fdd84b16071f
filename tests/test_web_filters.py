"""Filters, facets, sorting, recency and "did you mean" through the API and the page."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from search.models import PeriodCount, SourceCount
from web import create_app
from web.links import SOURCE_ROWS, date_facets, days, month_label, search_url, source_facets

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"
SOURCES = {"Example Wire", "Coastal Herald", "Tech Daily"}
# Matches in several sources and months; "OR" asks for any one of the words.
BROAD = "Syria OR Moscow OR Ankara"


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
    assert body["suggestion"] == "Idlib de-escalation"
    sources = {f["value"]: f["count"] for f in body["facets"]["source"]}
    assert set(sources) <= SOURCES and sum(sources.values()) <= body["total"]
    assert all(re.fullmatch(r"2019-\d\d", f["period"]) for f in body["facets"]["date"])


def test_source_filter(client):
    _, body = api(client, q=BROAD, mode="keyword", source="Coastal Herald", limit=20)
    assert body["results"] and {h["source"] for h in body["results"]} == {"Coastal Herald"}
    # Multi-select faceting: the source facet is counted without the source filter, so the
    # other sources stay listed (with what adding each would bring); the chosen one counts
    # exactly what is shown.
    sources = {f["value"]: f["count"] for f in body["facets"]["source"]}
    assert sources["Coastal Herald"] == body["total"] and len(sources) > 1
    _, unfiltered = api(client, q=BROAD, mode="keyword", limit=20)
    assert body["facets"]["source"] == unfiltered["facets"]["source"]
    assert body["facets"]["date"] != unfiltered["facets"]["date"]  # the date facet is filtered
    _, both = api(
        client, q=BROAD, mode="keyword", source=["Coastal Herald", "Tech Daily"], limit=20
    )
    assert {h["source"] for h in both["results"]} == {"Coastal Herald", "Tech Daily"}


def test_date_facet_keeps_the_other_months_to_switch_to(client):
    _, every = api(client, q=BROAD, mode="keyword", limit=20)
    months = {f["period"]: f["count"] for f in every["facets"]["date"]}
    assert len(months) > 1
    chosen = min(months)
    _, one = api(client, q=BROAD, mode="keyword", **{"from": f"{chosen}-01", "to": f"{chosen}-28"})
    assert one["total"] <= months[chosen] and one["facets"]["date"] == every["facets"]["date"]
    html = client.get(
        "/",
        query_string={"q": BROAD, "mode": "keyword", "from": f"{chosen}-01", "to": f"{chosen}-28"},
    ).get_data(as_text=True)
    others = [p for p in months if p != chosen]
    assert all(f"from={p}-01" in html for p in others), "every other month is a link"


def test_facets_and_total_reconcile(client):
    """Every listed article is in one source row (or "No source") and one date row (or "No
    date"): the facet counts add up to the total on the page."""
    _, body = api(client, q=BROAD, mode="keyword", limit=1)
    unknown = {u["facet"]: u["count"] for u in body["facets"]["unknown"]}
    assert unknown == {"source": 1, "date": 1}  # the seed article has neither
    for facet in ("source", "date"):
        counted = sum(f["count"] for f in body["facets"][facet]) + unknown[facet]
        assert counted == body["total"], facet
    html = client.get("/", query_string={"q": BROAD, "mode": "keyword"}).get_data(as_text=True)
    assert "No source" in html and "No date" in html


def test_date_filter_is_inclusive(client):
    _, body = api(client, q="Syria", **{"from": "2019-01-05", "to": "2019-01-05"})
    assert [h["date"] for h in body["results"]] == ["2019-01-05"]
    _, body = api(client, q=BROAD, mode="keyword", **{"from": "2019-06-01"}, limit=20)
    assert body["results"] and all(h["date"] >= "2019-06-01" for h in body["results"])


def test_sort_by_date(client):
    _, body = api(client, q=BROAD, mode="keyword", sort="date", limit=20)
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
        r'type="date" value="2019-01-01" form="search">',
        html,
    )
    assert 'id="to" name="to" type="date" value="2019-12-31" form="search"' in html
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
    _, html = page(client, q=BROAD, mode="keyword", offset="0", limit="3")
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
    (args,) = hrefs(html, r"^Idlib de-escalation$")
    assert args == {"q": ["Idlib de-escalation"], "mode": ["hybrid"], "source": ["Coastal Herald"]}
    assert "Did you mean:" in html


def test_no_suggestion_for_a_correct_query(client):
    _, html = page(client, q="Idlib de-escalation")
    assert "Did you mean" not in html


def test_explain_mentions_recency(client):
    _, html = page(client, q="Syria", recency="30", mode="keyword")
    assert "recent stories favoured." in html


def test_empty_result_with_filters_suggests_removing_one(client):
    _, html = page(client, q="Syria", **{"from": "2030-01-01"})
    assert "No articles match" in html
    # The engine's hint, with how many articles match once the filters are gone.
    assert re.search(r"Remove the date and source filters: \d+ articles? match without them", html)


# --- pure helpers ---------------------------------------------------------------------------


def test_month_label():
    assert month_label("2019-03") == "Mar 2019"
    assert month_label("2019") == "2019"
    assert month_label("nonsense") == "nonsense"


def _request(settings):
    return create_app(
        {"TESTING": True, "SETTINGS": settings, "ENGINE": object()}
    ).test_request_context()


def test_date_facet_shows_years_then_the_months_of_the_chosen_year(settings):
    from search.models import Query

    # 40 years of monthly counts: an archive. Rows must stay ~ years + 12, never 480.
    facet = [
        PeriodCount(f"{y}-{m:02d}", 1 + (y == 2018))
        for y in range(1980, 2020)
        for m in range(1, 13)
    ]
    with _request(settings):
        out = date_facets(Query("q"), facet)
        assert out.unit == "year"
        assert [r.label for r in out.rows] == [str(y) for y in range(1980, 2020)]
        assert {r.level for r in out.rows} == {0}
        row2018 = out.rows[38]
        assert (row2018.count, row2018.bar) == (24, 100.0)
        assert out.rows[0].bar == 50.0
        args = parse_qs(urlsplit(row2018.url).query)
        assert args["from"] == ["2018-01-01"] and args["to"] == ["2018-12-31"]

        chosen = date_facets(Query("q", date_from="2018-01-01", date_to="2018-12-31"), facet)
        labels = [(r.label, r.level, r.active) for r in chosen.rows]
        assert len(labels) == 40 + 12
        assert labels[38] == ("2018", 0, True) and chosen.rows[38].url is None
        assert labels[39:51] == [(month_label(f"2018-{m:02d}"), 1, False) for m in range(1, 13)]
        assert labels[51] == ("2019", 0, False)
        feb = parse_qs(urlsplit(chosen.rows[40].url).query)
        assert feb["from"] == ["2018-02-01"] and feb["to"] == ["2018-02-28"]

        month = date_facets(Query("q", date_from="2018-03-01", date_to="2018-03-31"), facet)
        active = [r.label for r in month.rows if r.active]
        assert active == ["Mar 2018"], "a chosen month keeps its year open"
        assert "offset" not in search_url(Query("q", offset=20), sort="date")


def test_one_year_shows_its_months(settings):
    from search.models import Query

    facet = [PeriodCount("2019-01", 3), PeriodCount("2019-02", 1)]
    with _request(settings):
        out = date_facets(Query("q"), facet)
    assert out.unit == "month"
    assert [(r.label, r.level, r.bar) for r in out.rows] == [
        ("Jan 2019", 1, 100.0),
        ("Feb 2019", 1, 33.3),
    ]


def test_source_facet_is_case_insensitive_and_searchable_when_long(settings):
    from search.models import Query

    facet = [SourceCount(f"Source {i:02d}", 30 - i) for i in range(20)]
    with _request(settings):
        few = source_facets(Query("q"), facet[:3])
        assert few.names == [] and len(few.rows) == 3
        many = source_facets(Query("q", sources=("source 15",)), facet)
    assert [r.label for r in many.rows][:SOURCE_ROWS] == [
        f"Source {i:02d}" for i in range(SOURCE_ROWS)
    ]
    assert many.rows[-1].label == "Source 15" and many.rows[-1].active
    assert many.names == [f"Source {i:02d}" for i in range(20)]
    assert many.hidden == 20 - SOURCE_ROWS - 1


def test_source_filter_ignores_letter_case(client):
    _, exact = api(client, q="Syria", source="Coastal Herald", limit=20)
    _, lower = api(client, q="Syria", source="coastal herald", limit=20)
    assert lower["total"] == exact["total"] > 0
    assert [h["article_id"] for h in lower["results"]] == [
        h["article_id"] for h in exact["results"]
    ]
    _, html = page(client, q="Syria", source="COASTAL HERALD")
    assert re.search(
        r'class="facet-link is-active" aria-current="true">\s*'
        r'<span class="facet-label">Coastal Herald',
        html,
    )
