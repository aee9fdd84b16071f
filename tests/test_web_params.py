"""``search.query.parse_query``: the one validator the page and the API share."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from search.config import Settings
from search.models import Query
from search.query import QueryError as ParamError
from search.query import parse_query as parse_search_args

SETTINGS = Settings()


def parse(**args) -> Query:
    multi = MultiDict()
    for name, value in args.items():
        for v in value if isinstance(value, list) else [value]:
            multi.add(name.rstrip("_"), v)
    return parse_search_args(multi, SETTINGS)


def error(**args) -> ParamError:
    with pytest.raises(ParamError) as info:
        parse(**args)
    assert info.value.code == "bad_parameter"
    return info.value


def test_defaults():
    assert parse(q="x") == Query("x", "hybrid", 10, 0, None, None, (), "relevance", None)


def test_everything_given():
    query = parse(
        q="x",
        mode="keyword",
        limit="5",
        offset="10",
        from_="2019-01-01",
        to="2019-12-31",
        source=["Example Wire", "Tech Daily"],
        sort="date",
        recency="30",
    )
    assert query == Query(
        "x",
        "keyword",
        5,
        10,
        "2019-01-01",
        "2019-12-31",
        ("Example Wire", "Tech Daily"),
        "date",
        30.0,
    )


def test_empty_values_mean_unset():
    """What an untouched form submits: every field present, most of them empty."""
    query = parse(q="x", from_="", to="", sort="", recency="", source=["", " "], limit="")
    assert query == Query("x")


def test_plain_dict_works_too():
    query = parse_search_args({"q": "x", "from": "2019-02-28", "sort": "DATE"}, SETTINGS)
    assert query.date_from == "2019-02-28" and query.sort == "date"


@pytest.mark.parametrize("value", ["2019-01-01", "2020-02-29", "0001-01-01", "9999-12-31"])
def test_good_dates(value):
    assert parse(q="x", from_=value).date_from == value
    assert parse(q="x", to=value).date_to == value


@pytest.mark.parametrize(
    "value",
    [
        "2019-02-30",
        "2019-13-01",
        "2019-00-10",
        "2019-1-5",
        "20190105",
        "2019/01/05",
        "2019-01-05T00:00",
        "yesterday",
        "２０１９-01-05",
        "2019-W01-1",
        "0000-01-01",
    ],
)
def test_bad_dates(value):
    for name in ("from_", "to"):
        exc = error(q="x", **{name: value})
        assert exc.param == name.rstrip("_")
        assert exc.message == f"{exc.param} must be a real date written YYYY-MM-DD"


def test_from_after_to():
    exc = error(q="x", from_="2019-06-02", to="2019-06-01")
    assert (exc.param, exc.message) == ("from", "from must not be later than to")
    assert parse(q="x", from_="2019-06-01", to="2019-06-01").date_to == "2019-06-01"


def test_sources_deduplicated_and_trimmed():
    query = parse(q="x", source=[" A ", "B", "A", "\x00B"])
    assert query.sources == ("A", "B")


def test_source_limits():
    assert len(parse(q="x", source=[f"s{i}" for i in range(20)]).sources) == 20
    exc = error(q="x", source=[f"s{i}" for i in range(21)])
    assert (exc.param, exc.message) == ("source", "source may be given at most 20 times")
    assert parse(q="x", source="a" * 200).sources == ("a" * 200,)
    exc = error(q="x", source="a" * 201)
    assert exc.message == "source must be at most 200 characters"


@pytest.mark.parametrize(
    ("raw", "value"), [("1", 1.0), ("7", 7.0), ("0.5e0", None), ("36500", 36500.0), ("2.5", 2.5)]
)
def test_recency(raw, value):
    if value is None:
        error(q="x", recency=raw)
    else:
        assert parse(q="x", recency=raw).recency == value


@pytest.mark.parametrize("raw", ["0", "0.99", "36501", "-7", "abc", "1e3", "nan", "inf", "7d"])
def test_bad_recency(raw):
    exc = error(q="x", recency=raw)
    assert (exc.param, exc.message) == (
        "recency",
        "recency must be a number of days between 1 and 36500",
    )


@pytest.mark.parametrize("raw", ["newest", "score", "date "])
def test_sort(raw):
    if raw.strip() == "date":
        assert parse(q="x", sort=raw).sort == "date"
    else:
        exc = error(q="x", sort=raw)
        assert exc.message == "sort must be one of relevance, date"


@pytest.mark.parametrize("name", ["from_", "to", "sort", "recency", "mode", "limit"])
def test_repeated_single_valued_params_must_agree(name):
    same = {
        "from_": "2019-01-01",
        "to": "2019-01-01",
        "sort": "date",
        "recency": "7",
        "mode": "keyword",
        "limit": "3",
    }[name]
    parse(q="x", **{name: [same, same]})
    other = {
        "from_": "2019-01-02",
        "to": "2019-01-02",
        "sort": "relevance",
        "recency": "8",
        "mode": "semantic",
        "limit": "4",
    }[name]
    exc = error(q="x", **{name: [same, other]})
    assert exc.param == name.rstrip("_") and "more than once" in exc.message
