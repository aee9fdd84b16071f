"""newsearch: hybrid keyword + embedding search over news articles.

The public surface — what a program may use — is exported here::

    from search import Engine, Query, Settings, build_index

    settings = Settings.from_env(index_dir="index")     # validated; SettingsError if not
    build_index(["seeds"], settings)
    results = Engine.open(settings).search(Query("Idlib de-escalation"))

Everything else is internal: modules are private by convention and not imported across
packages (web/ uses only these names and ``search.query``/``search.models``). Names are loaded
on first use, so ``import search`` stays cheap (the CLI starts without numpy or Whoosh).
This package never imports Flask.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Engine": "search.engine",
    "Query": "search.models",
    "Results": "search.models",
    "ArticleHit": "search.models",
    "ParagraphHit": "search.models",
    "Facets": "search.models",
    "ArticleView": "search.models",
    "RelatedArticle": "search.models",
    "Health": "search.models",
    "Article": "search.models",
    "Problem": "search.models",
    "Settings": "search.config",
    "IndexSettings": "search.config",
    "SearchSettings": "search.config",
    "ServeSettings": "search.config",
    "SettingsError": "search.config",
    "parse_query": "search.query",
    "QueryError": "search.query",
    "ParsedQuery": "search.syntax",
    "parse_syntax": "search.syntax",
    "build_index": "search.build",
    "BuildReport": "search.build",
    "NothingIndexed": "search.build",
    "add_paths": "search.update",
    "delete_ids": "search.update",
    "IndexNotReady": "search.store",
    "IndexCorrupt": "search.store",
    "IndexBusy": "search.store",
    "RetrievalBackend": "search.backends",
    "Filters": "search.backends",
    "Unsupported": "search.backends",
    "open_backend": "search.backends",
}
__all__ = [
    "__version__",
    "Engine",
    "Query",
    "Results",
    "ArticleHit",
    "ParagraphHit",
    "Facets",
    "ArticleView",
    "RelatedArticle",
    "Health",
    "Article",
    "Problem",
    "Settings",
    "IndexSettings",
    "SearchSettings",
    "ServeSettings",
    "SettingsError",
    "parse_query",
    "QueryError",
    "ParsedQuery",
    "parse_syntax",
    "build_index",
    "BuildReport",
    "NothingIndexed",
    "add_paths",
    "delete_ids",
    "IndexNotReady",
    "IndexCorrupt",
    "IndexBusy",
    "RetrievalBackend",
    "Filters",
    "Unsupported",
    "open_backend",
]

if TYPE_CHECKING:
    from search.backends import Filters, RetrievalBackend, Unsupported, open_backend
    from search.build import BuildReport, NothingIndexed, build_index
    from search.config import (
        IndexSettings,
        SearchSettings,
        ServeSettings,
        Settings,
        SettingsError,
    )
    from search.engine import Engine
    from search.models import (
        Article,
        ArticleHit,
        ArticleView,
        Facets,
        Health,
        ParagraphHit,
        Problem,
        Query,
        RelatedArticle,
        Results,
    )
    from search.query import QueryError, parse_query
    from search.store import IndexBusy, IndexCorrupt, IndexNotReady
    from search.syntax import ParsedQuery, parse_syntax
    from search.update import add_paths, delete_ids


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
