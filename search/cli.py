"""``newsearch`` command line: index, search, add, delete, serve; eval and fetch are in
cli_tools.py, the options they share in cli_options.py."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import click

from .cli_options import (
    backend_options,
    default_inputs,
    load_settings,
    notices,
    ray_option,
    ray_spec,
    report_problem,
)
from .cli_tools import eval_cmd, fetch_cmd
from .models import MODES, SORTS
from .progress import plural


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
@click.option(
    "--quiet", is_flag=True, help="Print only errors and the file:line problems (no summary)."
)
@ray_option
@backend_options
def index_cmd(
    paths: tuple[Path, ...],
    index_dir: str | None,
    if_stale: bool,
    exact: bool,
    quiet: bool,
    ray_address: str | None,
) -> None:
    """Index articles from files and folders (.txt, .jsonl, .json, .csv, .html); default: seeds/."""
    from .rayembed import RayUnavailable
    from .store import IndexError_
    from .writers import build, is_stale

    notices(quiet)
    settings = load_settings(index_dir)
    inputs = list(paths) or default_inputs()
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
            on_problem=report_problem,
            ray=ray_spec(ray_address),
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
@backend_options
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
    from .text import replace_surrogates

    notices(False)
    # One search, then exit: no int8 copy of the vectors (its OpenVINO compile runs on a
    # background thread; a process exiting during it aborted, exit status 134, in ~1 of 8 runs
    # on a 23k-paragraph index, after printing the answer). The exact scan answers alike.
    settings = load_settings(index_dir, vector_scan="exact")
    # An argument with bytes that are not UTF-8 arrives with lone surrogates, which the engine
    # reads as U+FFFD but which cannot be printed: the answer echoes the query as it was read.
    text = replace_surrogates(text)
    sources = tuple(replace_surrogates(s) for s in sources)
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
    except QueryError as e:  # the text is the TEXT argument here, not a `q` parameter
        where = "TEXT" if e.param in (None, "q") else f"--{e.param}"
        raise click.UsageError(f"{where}: {e.message.removeprefix('q ')}") from None
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
@click.option(
    "--quiet", is_flag=True, help="Print only errors and the file:line problems (no summary)."
)
@ray_option
@backend_options
def add_cmd(
    paths: tuple[Path, ...], index_dir: str | None, quiet: bool, ray_address: str | None
) -> None:
    """Add or replace (same id) articles without rebuilding the index."""
    from .rayembed import RayUnavailable
    from .store import IndexError_
    from .writers import add

    notices(quiet)
    settings = load_settings(index_dir)
    try:
        rep = add(
            list(paths),
            settings,
            progress=not quiet,
            on_problem=report_problem,
            ray=ray_spec(ray_address),
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
@backend_options
def delete_cmd(ids: tuple[str, ...], index_dir: str | None, quiet: bool) -> None:
    """Remove articles by id without rebuilding the index (exits 1 if any id is unknown)."""
    from .store import IndexError_
    from .writers import delete

    try:
        deleted, unknown, gen = delete(list(ids), load_settings(index_dir))
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


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--index-dir", type=click.Path(), default=None)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),  # the same bounds as ServeSettings.serve_threads
    default=None,
    help="worker threads [default: NEWSEARCH_SERVE_THREADS or 4]",
)
@backend_options
def serve_cmd(host: str, port: int, index_dir: str | None, threads: int | None) -> None:
    """Serve the web page and JSON API with waitress (a production WSGI server)."""
    from web.serve import CannotListen, serve  # web imports search, never the other way round

    settings = load_settings(index_dir)
    if settings.backend == "milvus":  # unreachable or busy: one line now, not 503s later
        from .backends.milvus_store import MilvusUnavailable, connect

        try:
            connect(settings.milvus_uri)
        except MilvusUnavailable as e:
            raise click.ClickException(str(e)) from e
    try:
        serve(settings, host=host, port=port, threads=threads)
    except CannotListen as e:  # a port in use: one line and exit status 1, nothing loaded
        raise click.ClickException(str(e)) from None


main.add_command(eval_cmd)
main.add_command(fetch_cmd)

if __name__ == "__main__":
    main()
