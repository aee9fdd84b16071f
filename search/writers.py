"""Index writes for whichever backend the settings name: build, add, delete, staleness.

The CLI and ``evaluate`` call these; the embedded writers are ``build``/``update`` (index_dir),
the Milvus ones ``backends/milvus_write`` (imported only when asked for, like pymilvus).
``ray`` embeds on a Ray cluster (``rayembed``); both backends take the same vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from .build import BuildReport
from .config import Settings
from .models import Problem
from .rayembed import RaySpec, cluster, ray_encoder

__all__ = ["add", "build", "delete", "is_stale"]


def _encoder(settings: Settings, ray: RaySpec | None, progress: bool):
    return ray_encoder(settings, ray, progress) if ray is not None else None


def _ray_first(settings: Settings, ray: RaySpec | None, progress: bool):  # noqa: ANN202
    """Ray started before Milvus is opened: Milvus Lite runs a gRPC server in this process,
    and Ray's processes forked beside its threads fail (the dashboard aborts)."""
    if ray is None or settings.backend != "milvus":
        return nullcontext()
    return cluster(ray, quiet=not progress)


def build(
    paths: list[Path],
    settings: Settings,
    progress: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
    ray: RaySpec | None = None,
    exact: bool = False,
) -> BuildReport:
    """A full build: a new generation (embedded) or new collections + alias switch (Milvus).

    Embedded: articles added or deleted since the last build stay so unless ``exact``
    (``search.carry``)."""
    enc = _encoder(settings, ray, progress)
    with _ray_first(settings, ray, progress):
        if settings.backend == "milvus":
            from .backends.milvus_write import build_milvus

            return build_milvus(paths, settings, progress, None, on_problem, enc)
        from .build import build_index

        return build_index(paths, settings, progress, None, on_problem, enc, exact=exact)


def add(
    paths: list[Path],
    settings: Settings,
    progress: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
    ray: RaySpec | None = None,
) -> BuildReport:
    """Add or replace (same id) articles without a full rebuild."""
    enc = _encoder(settings, ray, progress)
    with _ray_first(settings, ray, progress):
        if settings.backend == "milvus":
            from .backends.milvus_write import add_milvus

            return add_milvus(paths, settings, progress, None, on_problem, enc)
        from .update import add_paths

        return add_paths(paths, settings, progress, None, on_problem, enc)


def delete(ids: list[str], settings: Settings) -> tuple[list[str], list[str], str | None]:
    """Remove articles by id: (deleted, unknown, new snapshot or None)."""
    if settings.backend == "milvus":
        from .backends.milvus_write import delete_milvus

        return delete_milvus(ids, settings)
    from .update import delete_ids

    return delete_ids(ids, settings)


def is_stale(paths: list[Path], settings: Settings) -> bool:
    """True when there is no usable index or it was built from other inputs/settings."""
    if settings.backend == "milvus":
        from .backends.milvus_write import is_stale as milvus_stale

        return milvus_stale(paths, settings)
    from .build import is_stale as embedded_stale

    return embedded_stale(paths, settings)
