"""``newsearch`` command line: index, search, serve (eval lives in search/evaluate.py)."""

from __future__ import annotations

import functools
import json
import logging
import shutil
import textwrap
from pathlib import Path

import click

from .config import Settings, SettingsError
from .models import MODES, SORTS
from .progress import plural

DEFAULT_INPUT = Path("seeds")


def _default_inputs() -> list[Path]:
    """The demo corpus: the article files of ``seeds/`` (its README is not an article)."""
    from .ingest import PARSERS

    if not DEFAULT_INPUT.is_dir():
        return [DEFAULT_INPUT]  # reported as missing below
    return sorted(p for p in DEFAULT_INPUT.iterdir() if p.suffix.lower() in PARSERS)


BACKEND_META = "newsearch.backend"


def _backend_options(f):  # noqa: ANN001, ANN202 - a click decorator
    """``--backend`` and ``--milvus-uri`` on a command; ``_settings`` applies them."""

    @functools.wraps(f)
    def wrapper(*args, backend: str | None, milvus_uri: str | None, **kwargs):  # noqa: ANN202
        if milvus_uri and not backend:
            backend = "milvus"  # a Milvus uri says which backend
        click.get_current_context().meta[BACKEND_META] = {
            "backend": backend,
            "milvus_uri": milvus_uri,
        }
        return f(*args, **kwargs)

    wrapper = click.option(
        "--milvus-uri",
        default=None,
        metavar="URI",
        help="Milvus: a .db file (Milvus Lite) or http://host:19530 [NEWSEARCH_MILVUS_URI].",
    )(wrapper)
    return click.option(
        "--backend",
        type=click.Choice(["embedded", "milvus"]),
        default=None,
        help="Where the index lives [NEWSEARCH_BACKEND, default embedded].",
    )(wrapper)


def _ray_option(f):  # noqa: ANN001, ANN202 - a click decorator
    return click.option(
        "--ray",
        "ray_address",
        default=None,
        is_flag=False,
        flag_value="local",
        metavar="[ADDRESS]",
        help="Embed on a Ray cluster (a local one without ADDRESS); needs the ray extra.",
    )(f)


def _ray_spec(address: str | None):  # noqa: ANN202
    from .rayembed import parse_address

    return parse_address(address)


def _backend_overrides() -> dict:
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(BACKEND_META, {})) if ctx is not None else {}


def _settings(index_dir: str | None, **overrides) -> Settings:
    overrides = {**_backend_overrides(), **overrides}
    try:
        return Settings.from_env(index_dir=index_dir, **overrides)
    except SettingsError as e:  # one line, exit status 1, before anything is opened
        raise click.ClickException(str(e)) from None


def _notices(quiet: bool) -> None:
    """Show the one-line notices of slow one-off steps (the model export) unless ``quiet``."""
    lg = logging.getLogger("search.embed")
    if not lg.handlers:
        handler = logging.StreamHandler()  # stderr, read at emit time
        handler.setFormatter(logging.Formatter("%(message)s"))
        lg.addHandler(handler)
        lg.propagate = False
    lg.setLevel(logging.WARNING if quiet else logging.INFO)


@click.group()
@click.version_option(package_name="newsearch")
def main() -> None:
    """Hybrid keyword + semantic search over news articles."""


@main.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index-dir", type=click.Path(), default=None, help="Where the index lives.")
@click.option("--if-stale", is_flag=True, help="Only rebuild when inputs or settings changed.")
@click.option(
    "--exact",
    is_flag=True,
    help="Index exactly PATHS: drop articles added with add/fetch, restore deleted ones "
    "(by default they stay as they are; either way each is reported by id).",
)
@click.option("--quiet", is_flag=True, help="Print only errors.")
@_ray_option
@_backend_options
def index_cmd(
    paths: tuple[Path, ...],
    index_dir: str | None,
    if_stale: bool,
    exact: bool,
    quiet: bool,
    ray_address: str | None,
) -> None:
    """Index articles from files and folders (.txt, .jsonl, .json, .csv); default: seeds/."""
    from .rayembed import RayUnavailable
    from .store import IndexError_
    from .writers import build, is_stale

    _notices(quiet)
    settings = _settings(index_dir)
    inputs = list(paths) or _default_inputs()
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    where = settings.milvus_uri if settings.backend == "milvus" else settings.index_dir
    try:
        if if_stale and not is_stale(inputs, settings):
            if not quiet:
                click.echo(f"index in {where} is up to date with {', '.join(map(str, inputs))}")
            return
        rep = build(
            inputs,
            settings,
            progress=not quiet,
            on_problem=_report_problem,
            ray=_ray_spec(ray_address),
            exact=exact,
        )
    except RayUnavailable as e:
        raise click.ClickException(f"{e}; the index was left as it was") from e
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(f"build failed, previous index kept: {e}") from e
    if rep.articles == 0:
        raise click.ClickException("nothing could be indexed")
    if not quiet:
        click.echo(rep.summary())


@main.command("search")
@click.argument("text")
@click.option("--mode", help=f"One of {', '.join(MODES)} (default: NEWSEARCH_MODE or hybrid).")
@click.option("--limit", help="Articles to show (default 10, at most NEWSEARCH_MAX_LIMIT).")
@click.option("--offset", help="Articles to skip (at most NEWSEARCH_MAX_OFFSET).")
@click.option("--from", "date_from", help="Earliest date, YYYY-MM-DD.")
@click.option("--to", "date_to", help="Latest date, YYYY-MM-DD.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--sort", help=f"One of {', '.join(SORTS)} (default relevance).")
@click.option("--recency", help="Favour recent articles: a half-life in days.")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as the web API.")
@click.option("--index-dir", type=click.Path(), default=None)
@_backend_options
def search_cmd(
    text: str,
    mode: str | None,
    limit: str | None,
    offset: str | None,
    date_from: str | None,
    date_to: str | None,
    sources: tuple[str, ...],
    sort: str | None,
    recency: str | None,
    as_json: bool,
    index_dir: str | None,
) -> None:
    """Search the index and print matching articles."""
    from .backends import Unsupported
    from .engine import Engine
    from .query import QueryError, parse_query
    from .store import IndexError_

    _notices(False)
    settings = _settings(index_dir)
    args = {
        "q": text,
        "mode": mode,
        "limit": limit,
        "offset": offset,
        "from": date_from,
        "to": date_to,
        "source": list(sources),
        "sort": sort,
        "recency": recency,
    }
    try:  # the same contract as the web page and the API
        query = parse_query({k: v for k, v in args.items() if v is not None}, settings)
    except QueryError as e:
        raise click.UsageError(f"--{e.param or 'query'}: {e.message}") from None
    try:
        engine = Engine.open(settings)
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    try:
        res = engine.search(query)
    except Unsupported as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
        return
    _print_results(res, query.offset)


def _print_results(res, offset: int) -> None:
    click.echo(f"{plural(res.total, 'article')} ({res.took_ms:.0f} ms, {res.mode})")
    if res.suggestion:
        click.echo(f"Did you mean: {res.suggestion}")
    if res.notice:
        click.echo(res.notice)
    width = min(100, shutil.get_terminal_size((100, 20)).columns)
    for i, a in enumerate(res.results, start=offset + 1):
        meta = " · ".join(x for x in (a.date, a.source) if x)
        click.secho(f"\n{i}. {a.title or a.article_id}", bold=True)
        click.echo(f"   {a.article_id}{'  ' + meta if meta else ''}  score {a.score:.4f}")
        if a.duplicates:
            similar = plural(len(a.duplicates), "similar story", "similar stories")
            click.echo(f"   + {similar}: {', '.join(a.duplicates)}")
        for p in a.paragraphs:
            why = []
            if p.keyword_rank:
                why.append(f"keyword #{p.keyword_rank} ({p.keyword_score:.2f})")
            if p.semantic_rank:
                why.append(f"semantic #{p.semantic_rank} ({p.semantic_score:.2f})")
            click.echo(
                textwrap.fill(p.text, width, initial_indent="   > ", subsequent_indent="     ")
            )
            click.echo(f"     [{' · '.join(why)}]")


@main.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--index-dir", type=click.Path(), default=None)
@click.option("--quiet", is_flag=True, help="Print only errors.")
@_ray_option
@_backend_options
def add_cmd(
    paths: tuple[Path, ...], index_dir: str | None, quiet: bool, ray_address: str | None
) -> None:
    """Add or replace (same id) articles without rebuilding the index."""
    from .rayembed import RayUnavailable
    from .store import IndexError_
    from .writers import add

    _notices(quiet)
    settings = _settings(index_dir)
    try:
        rep = add(
            list(paths),
            settings,
            progress=not quiet,
            on_problem=_report_problem,
            ray=_ray_spec(ray_address),
        )
    except RayUnavailable as e:
        raise click.ClickException(f"{e}; the index was left as it was") from e
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:  # e.g. disk full: the new generation was never published
        raise click.ClickException(f"update failed, previous index kept: {e}") from e
    if rep.articles == 0:
        raise click.ClickException("nothing could be added")
    if not quiet:
        click.echo(rep.summary())


@main.command("delete")
@click.argument("ids", nargs=-1, required=True)
@click.option("--index-dir", type=click.Path(), default=None)
@click.option("--quiet", is_flag=True, help="Print only errors.")
@_backend_options
def delete_cmd(ids: tuple[str, ...], index_dir: str | None, quiet: bool) -> None:
    """Remove articles by id without rebuilding the index (exits 1 if any id is unknown)."""
    from .store import IndexError_
    from .writers import delete

    try:
        deleted, unknown, gen = delete(list(ids), _settings(index_dir))
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(f"delete failed, previous index kept: {e}") from e
    if deleted and not quiet:
        click.echo(f"deleted {plural(len(deleted), 'article')}" + (f" → {gen}" if gen else ""))
    if unknown:  # like rm: the known ones are gone, the exit status says not all were
        raise click.ClickException(
            f"not found: {', '.join(unknown)}" + ("" if deleted else "; no article deleted")
        )


def _report_problem(problem) -> None:
    tag = "skipped" if problem.skipped else "warning"
    click.echo(f"{tag}: {problem}", err=True)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--index-dir", type=click.Path(), default=None)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=None,
    help="worker threads [default: NEWSEARCH_SERVE_THREADS or 4]",
)
@_backend_options
def serve_cmd(host: str, port: int, index_dir: str | None, threads: int | None) -> None:
    """Serve the web page and JSON API with waitress (a production WSGI server)."""
    from web.serve import serve  # web imports search, never the other way round at import time

    settings = _settings(index_dir)
    if settings.backend == "milvus":  # unreachable or busy: one line now, not 503s later
        from .backends.milvus_store import MilvusUnavailable, connect

        try:
            connect(settings.milvus_uri)
        except MilvusUnavailable as e:
            raise click.ClickException(str(e)) from e
    serve(settings, host=host, port=port, threads=threads)


@main.command("eval")
@click.option(
    "--docs",
    "docs",
    required=True,
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Corpus to index (repeatable).",
)
@click.option(
    "--queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help='.jsonl of {"id", "text"}.',
)
@click.option(
    "--qrels",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="query_id, doc_id, relevance per line.",
)
@click.option("--mode", type=click.Choice([*MODES, "all"]), default="all", show_default=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"modes": {mode: metrics}}.')
@click.option(
    "--index-dir",
    type=click.Path(),
    default=None,
    help="Index to build or reuse (default: a cache dir under the system temp dir).",
)
@_backend_options
def eval_cmd(
    docs: tuple[Path, ...],
    queries: str,
    qrels: str,
    mode: str,
    as_json: bool,
    index_dir: str | None,
) -> None:
    """Score each mode on judged queries: nDCG@10, MAP, MRR@10, Recall@100, queries/s."""
    from . import evaluate as ev
    from .store import IndexError_

    paths = list(docs)
    try:
        settings = ev.eval_settings(paths, index_dir, **_backend_overrides())
    except SettingsError as e:
        raise click.ClickException(str(e)) from None
    try:
        qs, judgments = ev.load_queries(queries), ev.load_qrels(qrels)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    try:
        engine = ev.open_engine(
            paths,
            settings,
            progress=not as_json,
            on_build=lambda r: click.echo(r.summary(), err=True),
        )
        coverage = ev.judged_coverage(engine, judgments)
        if coverage < 1.0:
            click.echo(
                f"warning: {1 - coverage:.1%} of the relevant judged documents are not in the "
                "index (skipped at indexing, or ids that do not match the docs' id field)",
                err=True,
            )
        results = ev.evaluate(engine, qs, judgments, MODES if mode == "all" else [mode])
    except (IndexError_, OSError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        click.echo(json.dumps({"modes": results}, indent=2))
        return
    judged = sum(1 for q in qs if q in judgments)
    click.echo(f"{judged} judged queries, index {settings.index_dir}")
    click.echo(ev.format_table(results))


@main.command("fetch")
@click.argument("feeds", nargs=-1, required=True)
@click.option("--index-dir", type=click.Path(), default=None, help="Where the index lives.")
@click.option(
    "--save",
    "save_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("feeds"),
    show_default=True,
    help="Folder that keeps the fetched articles, one .jsonl per run (an index input).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    show_default=True,
    help="Seconds for each URL in all (connect, redirects, download).",
)
@click.option(
    "--max-items", type=click.IntRange(1), default=200, show_default=True, help="Per feed."
)
@click.option(
    "--allow-local",
    is_flag=True,
    help="Also fetch from loopback, private and link-local addresses (feeds on your network).",
)
@click.option("--quiet", is_flag=True, help="Print only errors.")
def fetch_cmd(
    feeds: tuple[str, ...],
    index_dir: str | None,
    save_dir: Path,
    timeout: float,
    max_items: int,
    allow_local: bool,
    quiet: bool,
) -> None:
    """Fetch RSS/Atom feeds and their linked pages, save them as .jsonl, then index them."""
    from .fetch import fetch, save_articles
    from .store import IndexError_
    from .update import add_paths

    _notices(quiet)
    settings = _settings(index_dir)

    fetched = fetch(feeds, timeout=timeout, max_items=max_items, allow_local=allow_local)
    for problem in fetched.problems:
        _report_problem(problem)
    if not quiet:
        click.echo(fetched.summary())
    if not fetched.articles:
        raise click.ClickException("no articles fetched, index left as it was")
    saved = save_articles(fetched.articles, save_dir)
    if not quiet:
        click.echo(f"saved {plural(len(fetched.articles), 'article')} to {saved}")
    try:
        rep = add_paths([saved], settings, progress=not quiet, on_problem=_report_problem)
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(f"build failed, previous index kept: {e}") from e
    if not quiet:
        click.echo(rep.summary())


if __name__ == "__main__":
    main()
