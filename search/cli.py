"""``newsearch`` command line: index, search, serve (eval lives in search/evaluate.py)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import click

from .config import Settings
from .models import MODES, Query

DEFAULT_INPUT = Path("seeds")


def _settings(index_dir: str | None, **overrides) -> Settings:
    return Settings.from_env(index_dir=index_dir, **overrides)


@click.group()
@click.version_option(package_name="newsearch")
def main() -> None:
    """Hybrid keyword + semantic search over news articles."""


@main.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index-dir", type=click.Path(), default=None, help="Where the index lives.")
@click.option("--if-stale", is_flag=True, help="Only rebuild when inputs or settings changed.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def index_cmd(paths: tuple[Path, ...], index_dir: str | None, if_stale: bool, quiet: bool) -> None:
    """Index articles from files and folders (.txt, .jsonl, .json, .csv); default: seeds/."""
    from .build import build_index, is_stale
    from .store import IndexError_

    settings = _settings(index_dir)
    inputs = list(paths) or [DEFAULT_INPUT]
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    if if_stale and not is_stale(inputs, settings):
        click.echo(
            f"index in {settings.index_dir} is up to date with {', '.join(map(str, inputs))}"
        )
        return

    def report(problem) -> None:
        tag = "skipped" if problem.skipped else "warning"
        click.echo(f"{tag}: {problem}", err=True)

    try:
        rep = build_index(inputs, settings, progress=not quiet, on_problem=report)
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(f"build failed, previous index kept: {e}") from e
    click.echo(rep.summary())
    if rep.articles == 0:
        raise click.ClickException("nothing could be indexed")


@main.command("search")
@click.argument("text")
@click.option("--mode", type=click.Choice(MODES), default=None)
@click.option("--limit", type=click.IntRange(1, 100), default=10)
@click.option("--offset", type=click.IntRange(0, 10_000), default=0)
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as the web API.")
@click.option("--index-dir", type=click.Path(), default=None)
def search_cmd(
    text: str, mode: str | None, limit: int, offset: int, as_json: bool, index_dir: str | None
) -> None:
    """Search the index and print matching articles."""
    from .engine import Engine
    from .store import IndexError_

    settings = _settings(index_dir)
    if len(text) > settings.max_query_chars:
        raise click.UsageError(f"query longer than {settings.max_query_chars} characters")
    try:
        engine = Engine.open(settings)
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    res = engine.search(Query(text, mode or settings.mode, limit, offset))
    if as_json:
        click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(f"{res.total} articles ({res.took_ms:.0f} ms, {res.mode})")
    if res.notice:
        click.echo(res.notice)
    width = min(100, click.get_terminal_size()[0] if sys.stdout.isatty() else 100)
    for i, a in enumerate(res.results, start=offset + 1):
        meta = " · ".join(x for x in (a.date, a.source) if x)
        click.secho(f"\n{i}. {a.title or a.article_id}", bold=True)
        click.echo(f"   {a.article_id}{'  ' + meta if meta else ''}  score {a.score:.4f}")
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


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--index-dir", type=click.Path(), default=None)
@click.option("--threads", type=int, default=8, show_default=True)
def serve_cmd(host: str, port: int, index_dir: str | None, threads: int) -> None:
    """Serve the web page and JSON API with waitress (a production WSGI server)."""
    from web.serve import serve  # web imports search, never the other way round at import time

    serve(_settings(index_dir), host=host, port=port, threads=threads)


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
    from .engine import Engine
    from .store import IndexError_

    paths = list(docs)
    settings = ev.eval_settings(paths, index_dir)
    try:
        qs, judgments = ev.load_queries(queries), ev.load_qrels(qrels)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    try:
        rep = ev.ensure_index(paths, settings, progress=not as_json)
        if rep is not None:
            click.echo(rep.summary(), err=True)
        engine = Engine.open(settings)
        results = ev.evaluate(engine, qs, judgments, MODES if mode == "all" else [mode])
    except (IndexError_, OSError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        click.echo(json.dumps({"modes": results}, indent=2))
        return
    judged = sum(1 for q in qs if q in judgments)
    click.echo(f"{judged} judged queries, index {settings.index_dir}")
    click.echo(ev.format_table(results))


if __name__ == "__main__":
    main()
