"""Embedding on a Ray cluster: ``newsearch index … --ray [ADDRESS]`` (the ``ray`` extra).

Paragraphs are sorted by length and cut into the chunks the local path embeds
(``stages.EMBED_CHUNK``), one Ray Data row each, mapped over an actor pool
(``ActorPoolStrategy``): one actor per CPU, each with a single-threaded copy of the embedder
the local path uses, so every chunk is embedded exactly as locally (vectors equal: max abs
difference 0.0 on 1,100 Wikinews paragraphs, int8). On a cluster it spreads over every
node's CPUs (notes/scale-out.md measured ~2x plain ``encode`` on 2 cores from length
sorting and single-threaded workers; the local path sorts too).

No address: a local cluster is started for the build (``num_cpus`` = this machine's cores,
its temp folder in the system temp dir, removed afterwards) and stopped at the end. With an
address (``ray://host:10001`` or ``host:6379``) the driver joins that cluster and only
disconnects. Workers need newsearch installed (the model ships in a package); an exported
OpenVINO model is sent to them with the job, so no shared filesystem is needed.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

LOCAL = "local"  # what `--ray` without an address means


class RayUnavailable(Exception):
    """Ray is not installed, or the cluster cannot be reached."""


@dataclass(frozen=True)
class RaySpec:
    """Where to embed: ``address`` None starts a local cluster of ``num_cpus`` (default: all)."""

    address: str | None = None
    num_cpus: int | None = None
    actors: int | None = None  # default: one per CPU of the cluster


def parse_address(value: str | None) -> RaySpec | None:
    """The ``--ray`` value → spec; "" or None: no Ray, "local": a local one."""
    if value is None or value == "":
        return None
    return RaySpec(None if value == LOCAL else value)


class _EmbedActor:
    """One single-threaded embedder per actor (torch: ``encode(threads=1)``; OpenVINO: its
    bulk model compiled for one thread, the same kind of model the local path uses)."""

    def __init__(
        self,
        model_name: str,
        batch_size: int,
        backend: str,
        ir_path: str | None,
        ir_files: dict[str, bytes] | None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if backend == "torch":  # encode(threads=1) below keeps it to one thread
            from .embed import load_embedder

            self._embedder = load_embedder(model_name, batch_size, backend)
        else:
            from .embed.openvino_backend import OpenVINOEmbedder

            if ir_files:  # a remote worker: the driver's export, in a folder of its own
                folder = tempfile.mkdtemp(prefix="newsearch-ir-")
                atexit.register(shutil.rmtree, folder, True)
                for name, data in ir_files.items():
                    Path(folder, name).write_bytes(data)
                ir_path = str(Path(folder) / "model.xml")
            assert ir_path is not None
            self._embedder = OpenVINOEmbedder(
                model_name, Path(ir_path), backend, batch_size, threads=1
            )

    def __call__(self, row: dict) -> dict:
        """One chunk of the local path, embedded as one call (bulk model, one thread)."""
        vecs = self._embedder.encode([str(t) for t in row["texts"]], threads=1)
        return {"chunk": row["chunk"], "vectors": np.ascontiguousarray(vecs, np.float32).tobytes()}


def _export(settings: Settings) -> Path | None:
    """The IR file of the driver's OpenVINO export (made first if missing); None for torch."""
    if settings.embed_backend == "torch":
        return None
    from .embed import export

    cache = Path(settings.model_cache).expanduser() if settings.model_cache else None
    return export.ensure_export(
        settings.model_name,
        settings.embed_backend,
        cache or export.default_cache(),
        export.packaged_calibration(),
    )


def _ir_files(ir: Path) -> dict[str, bytes]:
    """The export's files (not its compiled-blob cache), sent to workers on other machines."""
    return {p.name: p.read_bytes() for p in ir.parent.iterdir() if p.is_file()}


@contextmanager
def cluster(spec: RaySpec, quiet: bool = True) -> Iterator[int]:
    """Connected to the cluster for the block; yields its CPU count. A local cluster's
    processes and temp folder are gone afterwards."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file in the home folder
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(f"--ray needs: pip install -e '.[ray]' ({e})") from e
    if ray.is_initialized():  # the caller's own session (e.g. a notebook): use it, keep it
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
        return
    temp = None
    kwargs: dict = {
        "include_dashboard": False,
        "log_to_driver": not quiet,
        "logging_level": logging.WARNING,
        "configure_logging": True,
    }
    try:
        if spec.address is None:
            # Ray's socket paths must stay short: a folder directly in the temp dir.
            temp = tempfile.mkdtemp(prefix="nsray-")
            # Ray waits 30 s for its GCS server to start; a busy machine can take longer.
            os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "180")
            ray.init(num_cpus=spec.num_cpus or os.cpu_count() or 1, _temp_dir=temp, **kwargs)
        else:
            ray.init(address=spec.address, **kwargs)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError …
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
        raise RayUnavailable(f"cannot start or reach Ray at {spec.address or 'local'}: {e}") from e
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        ray.shutdown()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


def ray_encode(
    texts: list[str], settings: Settings, spec: RaySpec, progress: bool = False
) -> np.ndarray:
    """Vectors for ``texts`` (row i for text i), embedded by an actor pool on Ray.

    The texts are sorted by length and cut into the chunks the local path embeds
    (``stages.EMBED_CHUNK``), one Ray row each, so every chunk is embedded exactly as locally
    and the vectors are the local path's."""
    from .config import MODEL_DIM
    from .stages import EMBED_CHUNK

    if not texts:
        return np.zeros((0, MODEL_DIM), dtype=np.float32)
    ir = _export(settings)
    remote = spec.address is not None
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # stable, as embed_all's
    chunks = [order[s : s + EMBED_CHUNK] for s in range(0, len(order), EMBED_CHUNK)]
    with cluster(spec, quiet=not progress) as cpus:
        import ray
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = progress
        ctx.print_on_execution_start = progress
        if not progress:  # quiet by default: Ray Data logs every execution at INFO
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        actors = max(1, min(spec.actors or cpus, len(chunks)))
        ds = ray.data.from_items(
            [{"chunk": n, "texts": [texts[i] for i in c]} for n, c in enumerate(chunks)],
            override_num_blocks=len(chunks),
        )
        with warnings.catch_warnings():  # ray_remote_args_fn: deprecated, still the way
            warnings.simplefilter("ignore", DeprecationWarning)
            out = ds.map(
                _EmbedActor,
                fn_constructor_kwargs={
                    "model_name": settings.model_name,
                    "batch_size": settings.embed_batch_size,
                    "backend": settings.embed_backend,
                    "ir_path": None if ir is None else str(ir),
                    "ir_files": _ir_files(ir) if ir is not None and remote else None,
                },
                compute=ActorPoolStrategy(size=actors),
                num_cpus=1,
                # A lost actor fails the build (the live index stays), rather than restarting it.
                ray_remote_args_fn=lambda: {"max_restarts": 0},
            )
        result = np.zeros((len(texts), MODEL_DIM), dtype=np.float32)
        for row in out.iter_rows():
            c = chunks[int(row["chunk"])]
            vecs = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(c), -1)
            result[c] = vecs
    return result


def ray_encoder(
    settings: Settings, spec: RaySpec, progress: bool = False
) -> Callable[[list[str]], np.ndarray]:
    """``build.embed_all``'s ``encode_all``: every text of a build in one Ray job."""
    return lambda texts: ray_encode(texts, settings, spec, progress)
