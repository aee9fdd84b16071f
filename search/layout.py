"""The on-disk format of a generation: its files, typed records, the one reader and the one writer.

Files (all plain and inspectable)::

    manifest.json     format version, model + dimension, the index-shaping settings
                      (``IndexSettings``), counts, build time, input and keyword fingerprints,
                      per-file sha256 (``store`` adds and checks those)
    articles.jsonl    one ``ArticleRow`` a line; row order = article number; ``"deleted": true``
                      marks an article removed by `newsearch delete` (compacted by a full build)
    paragraphs.jsonl  one ``ParagraphRow`` a line; row i = vectors.npy row i = Whoosh "row";
                      rows of one article are contiguous
    vectors.npy       float32 (N, dim), L2-normalized
    duplicates.json   groups of near-duplicate article rows and the threshold that made them
    whoosh/           keyword index (deleted articles' paragraphs removed from it)
    postings/         whoosh/'s postings decoded into arrays (``postings_file.py``), written
                      from it by :func:`write_generation`

Only this module names these files. A build writes a new generation with
:func:`write_generation`; ``add``/``delete`` read the live one (:meth:`LiveIndex.read`), start a
copy of it (:meth:`LiveIndex.copy_keyword_index`) and write the copy with the same function;
``store.commit_generation`` publishes either atomically.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
from pydantic import ValidationError

from . import store
from .config import FORMAT_VERSION, INDEX_FIELDS, IndexSettings, Settings
from .embed import embedding_identity
from .postings_write import write_postings
from .related import (
    EXACT_BAND,
    article_vectors,
    article_vectors_of,
    duplicate_groups,
    groups_after_delete,
    groups_unchanged,
    updated_duplicate_groups,
)
from .row_files import link_all, save_vectors, write_jsonl
from .store import IndexCorrupt

__all__ = [
    "ARTICLES",
    "DUPLICATES",
    "PARAGRAPHS",
    "POSTINGS",
    "VECTORS",
    "WHOOSH",
    "ArticleRow",
    "Counts",
    "DuplicatesBefore",
    "LiveIndex",
    "Manifest",
    "ParagraphRow",
    "check_compatible",
    "embedding_matches",
    "index_shape",
    "read_jsonl",
    "write_generation",
]
log = logging.getLogger(__name__)

ARTICLES = "articles.jsonl"
PARAGRAPHS = "paragraphs.jsonl"
VECTORS = "vectors.npy"
DUPLICATES = "duplicates.json"
WHOOSH = "whoosh"
POSTINGS = "postings"


class ArticleRow(TypedDict):
    id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    dateline: str | None
    split: NotRequired[str]  # split key: reuse of the paragraph split (kept out of the API)
    deleted: NotRequired[bool]  # a tombstone
    added: NotRequired[bool]  # written by `add`/`fetch`, not a full build: `index` keeps it


class ParagraphRow(TypedDict):
    id: str  # "<article_id>:<n>"
    article: int  # article row
    text: str
    hash: str  # content hash of the embedded text (vector reuse)


@dataclass(frozen=True)
class Counts:
    articles: int
    paragraphs: int
    rows: int
    deleted_articles: int = 0
    skipped: int = 0
    duplicate_groups: int = 0


@dataclass(frozen=True)
class Manifest:
    """manifest.json without the per-file checksums (``store`` owns those)."""

    format_version: int
    model: str
    dimension: int
    counts: Counts
    index: IndexSettings  # stored as "settings"
    built_at: str | None = None
    inputs: str | None = None  # fingerprint of the input files + index shape
    keyword: str | None = None  # what whoosh/ was built from (None: unknown)
    match_set: dict[str, float] = field(default_factory=dict)  # calibration (search/ ranking)
    embedding: str | None = None  # embed.embedding_identity of the vectors (None: older index)

    @classmethod
    def from_json(cls, raw: dict[str, Any], where: Path | str = "manifest") -> Manifest:
        try:
            return cls(
                format_version=raw["format_version"],
                model=raw["model"],
                dimension=int(raw["dimension"]),
                counts=Counts(**raw["counts"]),
                index=index_shape(raw),
                built_at=raw.get("built_at"),
                inputs=raw.get("inputs"),
                keyword=raw.get("keyword"),
                match_set=dict(raw.get("match_set") or {}),
                embedding=raw.get("embedding"),
            )
        except (KeyError, TypeError, ValueError, ValidationError) as e:
            raise IndexCorrupt(f"{where}: bad manifest ({e})") from None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["settings"] = out.pop("index")
        return out


def index_shape(raw: dict[str, Any], default: IndexSettings | None = None) -> IndexSettings:
    """The index-shaping settings a manifest records; older manifests name only some of them,
    and the rest are taken from ``default`` (they were built with the defaults of the time)."""
    base = asdict(default or IndexSettings())
    base["embed_backend"] = "torch"  # manifests from before backends existed: those were torch
    stored = {k: v for k, v in (raw.get("settings") or {}).items() if k in INDEX_FIELDS}
    return IndexSettings(**{**base, **stored, "model_name": raw.get("model", base["model_name"])})


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_compatible(
    manifest: dict[str, Any], settings: Settings, where: Path, embedding: bool = True
) -> None:
    """Refuse an index built with another format or model: its vectors would be meaningless
    (``embedding`` False: only its rows are wanted, see ``embedding_matches``)."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{where}: index format {manifest.get('format_version')} != {FORMAT_VERSION}; "
            "rebuild it with `newsearch index`"
        )
    if manifest.get("model") != settings.model_name:
        raise IndexCorrupt(
            f"{where}: built with model {manifest.get('model')!r}, this engine uses "
            f"{settings.model_name!r}; rebuild it with `newsearch index`"
        )
    if embedding and not embedding_matches(manifest):
        raise IndexCorrupt(
            f"{where}: embedded with {manifest.get('embedding') or 'an unrecorded export'}, "
            "this engine embeds queries "
            f"with {_current_embedding(manifest)}; rebuild it with `newsearch index`"
        )


def _current_embedding(manifest: dict[str, Any]) -> str:
    return embedding_identity(manifest["model"], index_shape(manifest).embed_backend)


def embedding_matches(manifest: dict[str, Any]) -> bool:
    """Were these vectors made by the export this code embeds queries with? Older manifests
    do not say: torch ones are taken as today's, OpenVINO ones are not."""
    recorded = manifest.get("embedding")
    if recorded is None:
        # Torch vectors depend on no export. An OpenVINO index from before the record (built
        # 2026-11-25 to 12-01) came from export v1 or v2, whose batches padded to 32 tokens were
        # computed wrongly (~2% of paragraph vectors, cosine 0.63-0.96 to the right one; README
        # "Performance"): re-embed it rather than serve those.
        return index_shape(manifest).embed_backend == "torch"
    return recorded == _current_embedding(manifest)


def live_paragraph_texts(index_dir: Path, limit: int = 20_000) -> list[str]:
    """Up to ``limit`` paragraph texts of the live generation (e.g. calibration data)."""
    try:
        path = store.current_generation(index_dir) / PARAGRAPHS
        with open(path, encoding="utf-8") as f:
            return [json.loads(line)["text"] for _, line in zip(range(limit), f, strict=False)]
    except (store.IndexError_, OSError, ValueError, KeyError):
        return []


@dataclass(frozen=True)
class DuplicatesBefore:
    """A live generation's near-duplicate groups and which articles were alive for them."""

    threshold: float
    groups: list[list[int]]
    alive: np.ndarray


@dataclass
class LiveIndex:
    """The live generation read for writing: checksum-verified, rows as stored."""

    path: Path
    manifest: dict[str, Any]
    articles: list[ArticleRow] = field(default_factory=list)
    paragraphs: list[ParagraphRow] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    @classmethod
    def read(cls, settings: Settings, mmap: bool = False, embedding: bool = True) -> LiveIndex:
        """The live generation of ``settings.index_dir``; IndexNotReady / IndexCorrupt
        (``embedding`` False: also when another export made its vectors)."""
        gen = store.current_generation(settings.index_dir)
        manifest = store.read_manifest(gen, verify=True)
        check_compatible(manifest, settings, gen, embedding=embedding)
        try:
            articles = read_jsonl(gen / ARTICLES)
            paras = read_jsonl(gen / PARAGRAPHS)
            vectors = np.load(gen / VECTORS, allow_pickle=False, mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as e:  # e.g. an object array: never unpickled
            raise IndexCorrupt(f"{gen}: cannot load ({e})") from e
        if vectors.ndim != 2 or vectors.dtype != np.float32 or len(vectors) != len(paras):
            raise IndexCorrupt(f"{gen}: {vectors.dtype} {vectors.shape} vectors, {len(paras)} rows")
        return cls(gen, manifest, articles, paras, vectors)  # type: ignore[arg-type]

    @property
    def shape(self) -> IndexSettings:
        return index_shape(self.manifest)

    def duplicates_before(self) -> DuplicatesBefore | None:
        """What an update needs to compute duplicates.json from this generation's (None when
        its groups were made by the rule before EXACT_BAND: they are computed again)."""
        try:
            raw = json.loads((self.path / DUPLICATES).read_text(encoding="utf-8"))
            if raw.get("exact_band") != EXACT_BAND:
                return None
            threshold, groups = float(raw["threshold"]), [list(map(int, g)) for g in raw["groups"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        alive = np.array([not r.get("deleted") for r in self.articles], dtype=bool)
        if any(not 0 <= i < len(alive) for g in groups for i in g):
            return None  # not this generation's rows: computed again
        return DuplicatesBefore(threshold, groups, alive)

    def copy_keyword_index(self, dest: Path) -> None:
        """Copy whoosh/ into a new generation directory, to be updated there: its segments
        hard-linked (Whoosh never writes a segment file again: a commit writes new segments
        and a new TOC, which holds the deletions, and unlinks what it no longer uses), the
        rest (TOC, lock) copied."""
        (dest / WHOOSH).mkdir()
        for src in (self.path / WHOOSH).iterdir():
            if src.suffix == ".seg":
                try:
                    os.link(src, dest / WHOOSH / src.name)
                    continue
                except OSError:  # e.g. a filesystem without hard links
                    pass
            shutil.copy2(src, dest / WHOOSH / src.name)

    def link_keyword_index(self, dest: Path) -> bool:
        """Hard-link whoosh/ (and postings/, when the live generation has it) into a new
        generation directory (generations are never written after commit, so sharing inodes
        is safe); False if that failed (nothing left behind)."""
        names = [WHOOSH] + [POSTINGS] * (self.path / POSTINGS).is_dir()
        try:
            for name in names:
                (dest / name).mkdir()
                for src in (self.path / name).iterdir():
                    try:
                        os.link(src, dest / name / src.name)
                    except OSError:  # e.g. a filesystem without hard links
                        shutil.copy2(src, dest / name / src.name)
            return True
        except OSError as e:  # e.g. pruned meanwhile by another writer
            log.info("keyword index not reused: %s", e)
            for name in names:
                shutil.rmtree(dest / name, ignore_errors=True)
            return False


def write_generation(
    index_dir: Path,
    tmp: Path,
    shape: IndexSettings,
    articles: list[ArticleRow],
    paragraphs: list[ParagraphRow],
    vectors: np.ndarray,
    *,
    inputs: str | None,
    skipped: int,
    keyword: str | None = None,
    match_set: dict[str, float] | None = None,
    extends: tuple[Path, int] | None = None,
    duplicates_before: DuplicatesBefore | None = None,
    verified: Path | None = None,
) -> Path:
    """Write the plain files beside an already written ``tmp/whoosh`` (and its decoded
    ``postings/``, unless linked from the live generation with it) and publish them.

    ``shape`` is what the rows were made with (for ``add``: the live index's own, not today's
    settings); it goes into the manifest, and its duplicate threshold makes duplicates.json.
    ``extends``: (generation, rows) whose paragraphs and vectors are the first ``rows`` of
    these (an add/delete without compaction): all of them (a delete) are hard-linked, else
    its paragraphs.jsonl is copied and the new rows appended, instead of writing every row.
    ``duplicates_before``: the live generation's groups, updated instead of computed over
    every pair of articles.
    ``verified``: the live generation an update read (checksums verified): files linked from
    it keep their checksums (``store.commit_generation``).
    """
    write_jsonl(tmp / ARTICLES, articles)
    src, first = extends if extends is not None else (None, 0)
    pairs = [(src / name, tmp / name) for name in (PARAGRAPHS, VECTORS)] if src else []
    if not (src and first == len(paragraphs) == len(vectors) and link_all(pairs)):
        write_jsonl(tmp / PARAGRAPHS, paragraphs, src and src / PARAGRAPHS, first)
        save_vectors(tmp / VECTORS, vectors, src and src / VECTORS, first)
    if not (tmp / POSTINGS).exists():
        write_postings(tmp / WHOOSH, tmp / POSTINGS)
    n = len(paragraphs)
    article_of = np.fromiter((p["article"] for p in paragraphs), dtype=np.int32, count=n)
    alive = np.array([not r.get("deleted") for r in articles], dtype=bool)
    threshold = shape.duplicate_threshold
    before = duplicates_before
    if before is not None and before.threshold != threshold:
        before = None
    deleted_only = (
        before is not None
        and len(alive) == len(before.alive)
        and not bool(np.any(alive & ~before.alive))
    )
    if before is not None and groups_unchanged(before.groups, alive, before.alive):
        groups = before.groups  # e.g. deleting an article without near-duplicates
    elif before is not None and deleted_only:  # only the groups that lost a member
        groups = groups_after_delete(
            before.groups,
            alive,
            threshold,
            lambda rows: article_vectors_of(vectors, article_of, rows),
        )
    else:
        art_vecs = article_vectors(vectors, article_of, len(articles))
        if before is not None:
            groups = updated_duplicate_groups(
                art_vecs, threshold, alive, before.groups, before.alive
            )
        else:
            groups = duplicate_groups(art_vecs, threshold, alive)
    (tmp / DUPLICATES).write_text(
        json.dumps({"threshold": threshold, "groups": groups, "exact_band": EXACT_BAND}), "utf-8"
    )
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=shape.model_name,
        dimension=int(vectors.shape[1]),
        counts=Counts(
            articles=int(alive.sum()),
            paragraphs=int(alive[article_of].sum()) if n else 0,
            rows=n,
            deleted_articles=int((~alive).sum()),
            skipped=skipped,
            duplicate_groups=len(groups),
        ),
        index=shape,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        inputs=inputs,
        keyword=keyword,
        match_set=dict(match_set or {}),
        embedding=embedding_identity(shape.model_name, shape.embed_backend),
    )
    return store.commit_generation(index_dir, tmp, manifest.to_json(), verified)
