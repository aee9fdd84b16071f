"""How similar must a story be to be listed under "Related stories"? (issue #15)

For every article of a built index, the engine's nearest stories (near-duplicates already left
out) are taken with their cosine; where the corpus has topic labels (BBC: the category in the
id, e.g. ``business-001``; Reuters-21578: the editors' TOPICS, from a ``{id: [topics]}`` JSON)
a related story is counted as right when it shares a label. For each candidate threshold it
prints the precision of the stories that would be shown, how many articles would show at
least one, and how many are shown per article; for an unlabelled corpus (Wikinews) only the
coverage, plus examples just above and below the threshold to read.

    python bench/related.py --index /tmp/bbc-index --labels bbc
    python bench/related.py --index /tmp/reuters-index --labels topics.json
    python bench/related.py --index /tmp/wikinews-index --examples 0.6
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from search.config import Settings
from search.engine import Engine

SHOWN = 5
THRESHOLDS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def labels_for(spec: str | None, ids: list[str]) -> dict[str, set[str]] | None:
    if not spec:
        return None
    if spec == "bbc":
        return {i: {i.split("-")[0]} for i in ids}
    return {k: set(v) for k, v in json.loads(Path(spec).read_text()).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("--labels", help='"bbc" or a JSON file {article id: [labels]}')
    ap.add_argument("--examples", type=float, help="print pairs within ±0.03 of this cosine")
    args = ap.parse_args()
    engine = Engine.open(Settings.from_env(index_dir=args.index))
    cat = engine.backend.catalog
    ids = [i for i, alive in zip(cat.ids, cat.alive, strict=True) if alive]
    titles = {}
    labels = labels_for(args.labels, ids)
    pairs = []  # (cosine, right or None, article, related) for the top SHOWN of each article
    for article_id in ids:
        for story in engine.related(article_id, SHOWN) or []:
            story = {"article_id": story.article_id, "score": story.score, "title": story.title}
            titles[story["article_id"]] = story["title"]
            right = None
            if labels is not None:
                mine, theirs = labels.get(article_id), labels.get(story["article_id"])
                right = bool(mine and theirs and mine & theirs) if mine and theirs else None
            pairs.append((story["score"], right, article_id, story["article_id"]))
    print(f"{args.index}: {len(ids)} articles, {len(pairs)} (article, related) pairs, top {SHOWN}")
    print("threshold  precision  articles with ≥1 shown  shown per article")
    for t in THRESHOLDS:
        shown = [p for p in pairs if p[0] >= t]
        judged = [p[1] for p in shown if p[1] is not None]
        precision = f"{sum(judged) / len(judged):.3f}" if judged else "   - "
        having = len({p[2] for p in shown}) / len(ids)
        per = len(shown) / len(ids)
        print(f"  {t:.2f}      {precision}      {having:6.1%}                 {per:.2f}")
    if labels is not None:
        print("cosine bin  precision  pairs")
        for lo in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            judged = [p[1] for p in pairs if lo <= p[0] < lo + 0.1 and p[1] is not None]
            if judged:
                print(
                    f"  {lo:.1f}-{lo + 0.1:.1f}    {sum(judged) / len(judged):.3f}    {len(judged)}"
                )
    if args.examples is not None:
        near = sorted((p for p in pairs if abs(p[0] - args.examples) <= 0.03), reverse=True)
        for score, _, a, b in near[:: max(1, len(near) // 16)][:16]:
            first = titles.get(a) or engine.article(a).title
            print(f"  {score:.3f}  {first[:60]!r} -> {titles[b][:60]!r}")


if __name__ == "__main__":
    main()
