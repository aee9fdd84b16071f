"""What the ``newsearch`` commands share: settings from the environment and options (one line
and exit status 1 on a bad one), the backend and Ray options, notices and problem reports."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import click

from .config import Settings, SettingsError, unknown_variables

__all__ = [
    "BACKEND_META",
    "DEFAULT_INPUT",
    "backend_options",
    "backend_overrides",
    "default_inputs",
    "load_settings",
    "notices",
    "ray_option",
    "ray_spec",
    "report_problem",
    "warn_unknown_variables",
]

DEFAULT_INPUT = Path("seeds")


def default_inputs() -> list[Path]:
    """The demo corpus: the article files of ``seeds/`` (its README is not an article)."""
    from .ingest import PARSERS

    if not DEFAULT_INPUT.is_dir():
        return [DEFAULT_INPUT]  # reported as missing below
    return sorted(p for p in DEFAULT_INPUT.iterdir() if p.suffix.lower() in PARSERS)


BACKEND_META = "newsearch.backend"


def backend_options(f):  # noqa: ANN001, ANN202 - a click decorator
    """``--backend`` and ``--milvus-uri`` on a command; ``load_settings`` applies them."""

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


def ray_option(f):  # noqa: ANN001, ANN202 - a click decorator
    return click.option(
        "--ray",
        "ray_address",
        default=None,
        is_flag=False,
        flag_value="local",
        metavar="[ADDRESS]",
        help="Embed on a Ray cluster (a local one without ADDRESS); needs the ray extra.",
    )(f)


def ray_spec(address: str | None):  # noqa: ANN202
    from .rayembed import parse_address

    return parse_address(address)


def backend_overrides() -> dict:
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(BACKEND_META, {})) if ctx is not None else {}


def load_settings(index_dir: str | None, **overrides) -> Settings:
    overrides = {**backend_overrides(), **overrides}
    try:
        settings = Settings.from_env(index_dir=index_dir, **overrides)
    except SettingsError as e:  # one line, exit status 1, before anything is opened
        raise click.ClickException(str(e)) from None
    warn_unknown_variables()
    return settings


def warn_unknown_variables() -> None:
    """A ``NEWSEARCH_*`` variable that is no setting (a typo) gets a warning line on stderr."""
    for line in unknown_variables():
        click.echo(f"warning: {line}", err=True)


def notices(quiet: bool) -> None:
    """Show the one-line notices of slow one-off steps (the model export) unless ``quiet``."""
    lg = logging.getLogger("search.embed")
    if not lg.handlers:
        handler = logging.StreamHandler()  # stderr, read at emit time
        handler.setFormatter(logging.Formatter("%(message)s"))
        lg.addHandler(handler)
        lg.propagate = False
    lg.setLevel(logging.WARNING if quiet else logging.INFO)


def report_problem(problem) -> None:
    tag = "skipped" if problem.skipped else "warning"
    click.echo(f"{tag}: {problem}", err=True)
