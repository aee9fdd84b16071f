"""``newsearch eval`` and ``newsearch fetch``: the commands that bring their own inputs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_options import (
    backend_options,
    backend_overrides,
    load_settings,
    notices,
    report_problem,
    warn_unknown_variables,
)
from .config import SettingsError
from .models import MODES
from .progress import plural

__all__ = ["eval_cmd", "fetch_cmd"]


@click.command("eval")
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
@backend_options
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
        settings = ev.eval_settings(paths, index_dir, **backend_overrides())
    except SettingsError as e:
        raise click.ClickException(str(e)) from None
    warn_unknown_variables()
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
        peer_note = None
        if mode == "all":
            try:
                results.update(ev.peer_results(engine, qs, judgments)[0])
            except ImportError as e:
                peer_note = f"(peer not run: {e}; pip install bm25s)"
    except (IndexError_, OSError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        click.echo(json.dumps({"modes": results}, indent=2))
        return
    judged = sum(1 for q in qs if q in judgments)
    where = settings.milvus_uri if settings.backend == "milvus" else settings.index_dir
    click.echo(f"{judged} judged queries, index {where}")
    click.echo(ev.format_table(results))
    if mode == "all":
        click.echo(
            peer_note
            or "peer: bm25s over whole articles + all-MiniLM-L6-v2 (torch) on each article's "
            "best 180-word chunk, RRF k=60 (search/peer.py)"
        )


@click.command("fetch")
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
@click.option(
    "--quiet", is_flag=True, help="Print only errors and the file:line problems (no summary)."
)
@backend_options
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
    from .writers import add  # the index the settings name: embedded or Milvus

    notices(quiet)
    settings = load_settings(index_dir)

    fetched = fetch(feeds, timeout=timeout, max_items=max_items, allow_local=allow_local)
    for problem in fetched.problems:
        report_problem(problem)
    if not quiet:
        click.echo(fetched.summary())
    if not fetched.articles:
        raise click.ClickException("no articles fetched, index left as it was")
    saved = save_articles(fetched.articles, save_dir)
    if not quiet:
        click.echo(f"saved {plural(len(fetched.articles), 'article')} to {saved}")
    try:
        rep = add([saved], settings, progress=not quiet, on_problem=report_problem)
    except IndexError_ as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(f"build failed, previous index kept: {e}") from e
    if not quiet:
        click.echo(rep.summary())
