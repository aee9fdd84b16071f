"""What a full ``newsearch index`` keeps of the incremental work in the live generation.

A full build indexes its inputs, but the live index may hold more: articles ``add``ed or
``fetch``ed since (rows marked ``"added"``) and articles removed with ``delete`` (tombstones).
Rebuilding from the inputs alone silently dropped the first and brought back the second
(issue #17). By default a build now keeps both kinds of work:

* an added article whose id is not among the inputs is carried over (its rows and vectors,
  nothing re-embedded), and reported by id;
* an input article whose id was deleted stays out, reported by id, and stays deleted.

``newsearch index --exact`` indexes exactly the inputs instead, and reports by id what that
removes (added articles) and restores (deleted ones). Keeping is the default because ``add``,
``fetch`` and ``delete`` exited 0: their users were told the work was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .layout import LiveIndex
from .models import Article, Problem

__all__ = ["CarryOver", "plan_carry_over", "without_ids"]


@dataclass
class CarryOver:
    """Rows to append to a build's own, and what the build leaves out of its inputs."""

    records: list[dict] = field(default_factory=list)  # added articles, then tombstones
    paragraphs: list[dict] = field(default_factory=list)  # "article" = index into records
    vectors: np.ndarray | None = None
    left_out: set[str] = field(default_factory=set)  # input ids that stay deleted
    problems: list[Problem] = field(default_factory=list)
    snapshot: str | None = None  # the live generation this was planned from

    def append_to(
        self, records: list[dict], paras: list[dict], vectors: np.ndarray | None
    ) -> tuple[list[dict], list[dict], np.ndarray | None]:
        """The build's rows with these appended (article rows renumbered); ``vectors`` None:
        the rows only (what the keyword index is made of)."""
        if not self.records:
            return records, paras, vectors
        first = len(records)
        moved = [{**p, "article": p["article"] + first} for p in self.paragraphs]
        if vectors is not None and self.vectors is not None and len(self.vectors):
            vectors = np.concatenate([vectors, self.vectors])
        return records + self.records, paras + moved, vectors


def plan_carry_over(live: LiveIndex | None, inputs: list[Article], exact: bool) -> CarryOver:
    """What to keep from ``live`` given the build's ``inputs`` (``exact``: nothing, only
    report what is dropped and restored)."""
    plan = CarryOver(snapshot=live.path.name if live is not None else None)
    if live is None:
        return plan
    input_ids = {a.id for a in inputs}
    live_ids = {r["id"] for r in live.articles if not r.get("deleted")}
    deleted = {r["id"] for r in live.articles if r.get("deleted")} - live_ids
    restored = sorted(deleted & input_ids)
    added = [
        i
        for i, r in enumerate(live.articles)
        if r.get("added") and not r.get("deleted") and r["id"] not in input_ids
    ]
    if exact:
        for i in added:
            reason = "dropped: added with add/fetch, not in the inputs (--exact)"
            plan.problems.append(Problem(live.articles[i]["id"], None, reason))
        for article_id in restored:
            reason = "restored: deleted earlier with `newsearch delete` (--exact)"
            plan.problems.append(Problem(article_id, None, reason, skipped=False))
        return plan
    plan.left_out = set(restored)
    for article_id in restored:
        reason = "left out: deleted with `newsearch delete` (`index --exact` restores it)"
        plan.problems.append(Problem(article_id, None, reason))
    new_row = {old: k for k, old in enumerate(added)}
    plan.records = [dict(live.articles[i]) for i in added]
    rows = [j for j, p in enumerate(live.paragraphs) if p["article"] in new_row]
    plan.paragraphs = [
        {**live.paragraphs[j], "article": new_row[live.paragraphs[j]["article"]]} for j in rows
    ]
    plan.vectors = np.asarray(live.vectors[rows]) if rows else None
    for r in plan.records:
        reason = "kept: added with add/fetch, not in the inputs (`index --exact` drops it)"
        plan.problems.append(Problem(r["id"], None, reason, skipped=False))
    seen: set[str] = set()
    for r in live.articles:  # deletions stay known: a tombstone row, without paragraphs
        if r.get("deleted") and r["id"] in deleted and r["id"] not in seen:
            seen.add(r["id"])
            plan.records.append({k: v for k, v in r.items() if k not in ("split", "added")})
    return plan


def without_ids(
    records: list[dict], paras: list[dict], vectors: np.ndarray, ids: set[str]
) -> tuple[list[dict], list[dict], np.ndarray]:
    """A build's rows without the articles in ``ids`` (rows renumbered)."""
    if not ids or not any(r["id"] in ids for r in records):
        return records, paras, vectors
    row_of: dict[int, int] = {}
    kept: list[dict] = []
    for i, r in enumerate(records):
        if r["id"] not in ids:
            row_of[i] = len(kept)
            kept.append(r)
    rows = [j for j, p in enumerate(paras) if p["article"] in row_of]
    moved = [{**paras[j], "article": row_of[paras[j]["article"]]} for j in rows]
    return kept, moved, np.asarray(vectors)[rows]
