"""Article-level ranking over the whole match set: the legs' evidence, fused per article.

Each leg scores every allowed article: the keyword leg with BM25F over the whole article
(``article_bm25``), the semantic leg with the cosine of the article's best paragraph. The match
set (``matchset``) decides which articles are results; fusion orders them. Because both legs
score articles, a long article gets one vote per leg like any other (issue #12 item 3), and an
article can match on words spread over several paragraphs (issue #13).

Hybrid adds a third vote, the *passage* ranking (``passage_scores``): paragraphs fused across
the two legs (RRF of the paragraph BM25F ranking and the paragraph cosine ranking), an article
scored by its two best. It rewards an article where the same paragraphs hold the words *and*
mean the query, which the two article-level votes cannot see (README "Relevance"). A fourth,
the *keyword paragraph* ranking (``paragraph_keyword_scores``), scores an article by its best
paragraph's BM25F plus half its second best: an article whose words come together in a
paragraph or two, which whole-article BM25F does not tell from words scattered over it.
"""

from __future__ import annotations

import numpy as np

from .backends import ArticleKeyword
from .config import Settings
from .matchset import (
    SHORT_QUERY,
    Calibration,
    hybrid_set,
    keyword_set,
    semantic_set,
    wants_partial,
)

# Keyword mode ranks by RRF of the article BM25F ranking and, at this weight, the keyword
# paragraph ranking (bench/relevance.py: 0.5 gains on TIME dev and both Reuters samples, 1.0
# loses on TIME); hybrid gives it a full vote beside the other three.
KEYWORD_MODE_PARAGRAPH_WEIGHT = 0.5


def leg_ranks(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """1-based rank of each eligible article by score (ties by row); 0 elsewhere."""
    rows = np.flatnonzero(eligible)
    order = rows[np.lexsort((rows, -scores[rows]))]
    ranks = np.zeros(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def member_ranks(scores: np.ndarray, eligible: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``leg_ranks(scores, eligible)`` where ``members`` is True, 0 elsewhere: the same numbers
    for the articles fusion orders, without sorting every eligible article by (score, row).

    A rank is 1 + the eligible articles scoring higher + those scoring the same with a lower
    row: the first from the eligible scores at or above the lowest member's, sorted by one
    plain (unstable) sort; the second by counting, in each tied member's run of equal scores
    in that order, the rows below its own."""
    out = np.zeros(len(scores), dtype=np.int64)
    want = np.flatnonzero(members & eligible)
    if not len(want):
        return out
    rows = np.flatnonzero(eligible)
    if 4 * len(want) > len(rows):  # most of them: sorting them all is cheaper
        out[want] = leg_ranks(scores, eligible)[want]
        return out
    s = scores[want]
    rows = rows[scores[rows] >= s.min()]  # only these can rank above a member
    by_score = np.argsort(scores[rows])
    rows = rows[by_score]
    vals = scores[rows]
    left, right = np.searchsorted(vals, s, "left"), np.searchsorted(vals, s, "right")
    ranks = len(vals) - right + 1
    tied = np.flatnonzero(right - left > 1)
    if len(tied):
        runs = (right - left)[tied]
        owner = np.repeat(np.arange(len(tied)), runs)  # each tied member's run, flattened
        at = np.arange(int(runs.sum())) - np.repeat(np.cumsum(runs) - runs, runs)
        lower = rows[np.repeat(left[tied], runs) + at] < np.repeat(want[tied], runs)
        ranks[tied] += np.bincount(owner, weights=lower, minlength=len(tied)).astype(np.int64)
    out[want] = ranks
    return out


def rrf_articles(
    rank_lists: list[np.ndarray], k: int, weights: list[float] | None = None
) -> np.ndarray:
    """Sum of weight / (k + rank) over the lists where an article is ranked (rank > 0); every
    weight 1 unless ``weights`` are given (one per list)."""
    out = np.zeros(len(rank_lists[0]))
    for ranks, w in zip(rank_lists, weights or [1.0] * len(rank_lists), strict=True):
        ok = ranks > 0
        out[ok] += w / (k + ranks[ok])
    return out


def convex(
    keyword: np.ndarray,
    kw_ok: np.ndarray,
    best: np.ndarray,
    sem_ok: np.ndarray,
    members: np.ndarray,
    alpha: float,
) -> np.ndarray:
    """``alpha * semantic + (1 - alpha) * keyword``, each min-max scaled over ``members``
    (the match set); a leg that does not score an article gives it 0."""
    out = np.zeros(len(keyword))
    for scores, ok, w in ((best, sem_ok, alpha), (keyword, kw_ok, 1 - alpha)):
        sel = members & ok
        if not sel.any():
            continue
        lo, hi = float(scores[sel].min()), float(scores[sel].max())
        span = hi - lo
        out[sel] += w * (1.0 if span == 0 else (scores[sel] - lo) / span)
    return out


def best_per_article(
    para: np.ndarray, starts: np.ndarray, article_rows: np.ndarray, n_articles: int, fill: float
) -> np.ndarray:
    """Max of ``para`` over each article's contiguous paragraph rows (``fill`` if none)."""
    out = np.full(n_articles, fill, dtype=np.float64)
    if len(starts):
        out[article_rows] = np.maximum.reduceat(para, starts)
    return out


def top_ranks(
    scores: np.ndarray, eligible: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, 1-based ranks) of the ``depth`` best eligible rows by score, ties by row.

    Linear in the rows (a partition), then a sort of the few that survive it."""
    rows = best_rows(scores, np.flatnonzero(eligible), depth)
    return rows, np.arange(1, len(rows) + 1)


def best_rows(scores: np.ndarray, rows: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` best of ``rows`` (ascending) by score, best first, ties by row."""
    if len(rows) > depth:
        vals = scores[rows]
        kth = np.partition(vals, len(vals) - depth)[len(vals) - depth]
        rows = rows[vals >= kth]
    return rows[np.lexsort((rows, -scores[rows]))][:depth]


def rows_of_allowed(rows: np.ndarray, article_of: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The paragraph ``rows`` whose article (``article_of``, −1: none) is ``ok``: read only
    at those rows, not over every paragraph."""
    arts = article_of[rows]
    keep = arts >= 0
    keep[keep] = ok[arts[keep]]
    return rows[keep]


def passage_scores(
    keyword: np.ndarray,
    cosines: np.ndarray,
    article_of: np.ndarray,
    ok: np.ndarray,
    k: int,
    depth: int,
    floor: float,
    top: int = 2,
    keyword_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Per article: the sum of its ``top`` best paragraphs' RRF (``k``) over two paragraph
    rankings, each ``depth`` deep: by BM25F (``keyword`` > 0) and by cosine (≥ ``floor``, the
    lowest cosine the match set reads). Only paragraphs of ``ok`` articles are ranked; 0 for an
    article none of whose paragraphs is in either ranking. ``keyword_rows``: the BM25F ranking
    if already taken (``keyword_top``)."""
    n = len(ok)
    if keyword_rows is None:
        keyword_rows = keyword_top(keyword, article_of, ok, depth)
    near = rows_of_allowed(np.flatnonzero(cosines >= floor), article_of, ok)
    picks = []
    for rows in (keyword_rows, best_rows(cosines, near, depth)):
        picks.append((rows, 1.0 / (k + np.arange(1, len(rows) + 1))))
    rows = np.union1d(picks[0][0], picks[1][0])  # the ranked paragraphs, ascending
    out = np.zeros(n)
    if not len(rows):
        return out
    fused = np.zeros(len(rows))  # summed over only those rows, not a vector of every row
    for ranked, votes in picks:
        fused[np.searchsorted(rows, ranked)] += votes
    arts = article_of[rows].astype(np.int64)
    order = np.lexsort((-fused, arts))  # by article, best paragraph first
    arts, vals = arts[order], fused[order]
    starts = np.flatnonzero(np.r_[True, arts[1:] != arts[:-1]])
    place = np.arange(len(arts)) - np.repeat(starts, np.diff(np.r_[starts, len(arts)]))
    keep = place < top
    np.add.at(out, arts[keep], vals[keep])
    return out


def keyword_top(keyword: np.ndarray, article_of: np.ndarray, ok: np.ndarray, depth: int):
    """Rows of the ``depth`` best paragraphs by BM25F (``keyword`` > 0) of ``ok`` articles,
    best first: the keyword side of the passage vote and the keyword paragraph vote."""
    rows = rows_of_allowed(np.flatnonzero(keyword > 0), article_of, ok)
    return best_rows(keyword, rows, depth)


def paragraph_keyword_scores(
    keyword: np.ndarray,
    article_of: np.ndarray,
    ok: np.ndarray,
    depth: int,
    second: float,
    keyword_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Per article: among the ``depth`` best paragraphs by BM25F (``keyword`` > 0) of ``ok``
    articles (``keyword_rows`` if already taken), its best one's score plus ``second`` × its
    second best's; 0 for an article with none of them."""
    out = np.zeros(len(ok))
    rows = keyword_top(keyword, article_of, ok, depth) if keyword_rows is None else keyword_rows
    if not len(rows):
        return out
    arts = article_of[rows].astype(np.int64)
    _, first = np.unique(arts, return_index=True)  # each article's best paragraph
    out[arts[first]] = keyword[rows[first]]
    rest = np.ones(len(rows), dtype=bool)
    rest[first] = False
    _, nxt = np.unique(arts[rest], return_index=True)  # and its second best
    out[arts[rest][nxt]] += second * keyword[rows[rest][nxt]]
    return out


def order(members: np.ndarray, fused: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(members)
    rows = rows[np.lexsort((rows, -fused[rows]))]
    return rows, fused[rows]


def _evidence(settings: Settings, allowed: np.ndarray, kw: ArticleKeyword | None,
              best: np.ndarray | None, second: np.ndarray | None):  # fmt: skip
    """The legs' per-article evidence under ``allowed``, with the keyword constraints applied:
    (ok, keyword set, keyword scores, keyword-eligible, best, semantic-eligible, semantic rank)."""
    n = len(allowed)
    constraint = kw.constraint(n) if kw is not None else None
    ok = allowed if constraint is None else allowed & constraint
    kw_set = None
    kw_scores = np.zeros(n)
    kw_ok = np.zeros(n, dtype=bool)
    if kw is not None and kw.evidence is not None:
        kw_scores = kw.evidence.scores
        kw_ok = ok & (kw.evidence.matched > 0)
        fraction, upto = (0.0, 0) if kw.any_clause else (settings.msm_fraction, 2)
        kw_set = keyword_set(kw.evidence.matched, kw.clauses, ok, fraction, upto)
    sem_ok = np.zeros(n, dtype=bool)
    sem_rank = best
    if best is not None:
        best = np.where(ok, best, -np.inf)
        sem_ok = np.isfinite(best)
        sem_rank = best
        weight = settings.semantic_second
        if kw is not None and 0 < kw.clauses <= SHORT_QUERY:
            weight = settings.semantic_second_short  # a topic: its second paragraph counts more
        if second is not None and weight:
            extra = np.where(np.isfinite(second), np.maximum(second, 0.0), 0.0)
            sem_rank = np.where(sem_ok, best + weight * extra, -np.inf)
    return ok, kw_set, kw_scores, kw_ok, best, sem_ok, sem_rank


def _members(mode: str, cal: Calibration, ok: np.ndarray, kw: ArticleKeyword | None,
             kw_set: np.ndarray | None, sem_set: np.ndarray | None,
             best: np.ndarray | None) -> np.ndarray:  # fmt: skip
    """Bool per article: the match set of ``mode`` (see ``matchset``)."""
    n = len(ok)
    if mode == "keyword":
        return kw_set if kw_set is not None else np.zeros(n, dtype=bool)
    if mode == "semantic" or kw_set is None:
        return sem_set if sem_set is not None else np.zeros(n, dtype=bool)
    # Keyword matches holding every clause join unconditionally (any one, if the query says OR).
    need = 1 if kw.any_clause else kw.clauses
    complete = kw.evidence.matched >= need if kw.evidence is not None else None
    shares = ok & (kw.evidence.matched > 0) if kw.evidence is not None else None
    partial = wants_partial(kw.clauses, kw.any_clause, kw_set)
    return hybrid_set(kw_set, sem_set, best, cal, complete, shares, partial)


def match_members(
    mode: str,
    settings: Settings,
    cal: Calibration,
    allowed: np.ndarray,
    kw: ArticleKeyword | None,
    best: np.ndarray | None,
    second: np.ndarray | None = None,
    unfiltered: np.ndarray | None = None,
) -> np.ndarray:
    """Bool per article: the articles :func:`decide` would return, without ranking them
    (cheap: the engine's facets ask for the match set under other filters).

    ``unfiltered`` (the live articles, ``allowed`` before the date and source filters): the
    rules are read on it — the semantic cut relative to the best article, partial matches
    when fewer than ``FEW`` articles hold the words, the keyword fallback — and the filters
    then only restrict the set. Read on the filtered articles, a filter could add matches
    (partial matches switched on by a month holding < 10 keyword matches), so a facet row
    counted fewer articles than filtering on it found."""
    base = allowed if unfiltered is None else unfiltered
    ok, kw_set, _, _, best, _, _ = _evidence(settings, base, kw, best, second)
    sem_set = semantic_set(best, cal) if best is not None else None
    members = _members(mode, cal, ok, kw, kw_set, sem_set, best)
    return members if unfiltered is None else members & allowed


def decide(
    mode: str,
    settings: Settings,
    cal: Calibration,
    allowed: np.ndarray,
    kw: ArticleKeyword | None,
    best: np.ndarray | None,
    second: np.ndarray | None = None,
    cosines: np.ndarray | None = None,
    article_of: np.ndarray | None = None,
    unfiltered: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(articles best first, fused scores, keyword set, semantic set) for one query.

    ``allowed``: per article, live and passing the filters; the keyword leg's explicit
    constraints and exclusions are applied to both legs here. ``cosines`` (per paragraph row)
    and ``article_of`` (its article row, −1 for none) give hybrid RRF its passage vote, and
    ``article_of`` its keyword paragraph vote (``settings.keyword_paragraph_second``), which
    keyword mode also fuses, at ``KEYWORD_MODE_PARAGRAPH_WEIGHT``; without them (or with
    ``settings.passage_depth`` 0) hybrid fuses the two article votes and keyword mode ranks by
    article BM25F alone. ``unfiltered``: see :func:`match_members`.
    """
    n = len(allowed)
    members = None
    if unfiltered is not None:  # the rules read on the unfiltered set, then restricted
        members = match_members(mode, settings, cal, allowed, kw, best, second, unfiltered)
    ok, kw_set, kw_scores, kw_ok, best, sem_ok, sem_rank = _evidence(
        settings, allowed, kw, best, second
    )
    sem_set = semantic_set(best, cal) if best is not None else None  # the best paragraph alone
    if members is None:
        members = _members(mode, cal, ok, kw, kw_set, sem_set, best)
    para = kw.paragraph_scores if kw is not None else None
    depth, k = settings.passage_depth, settings.rrf_k
    paragraph_vote = bool(depth and settings.keyword_paragraph_vote)
    paragraph_vote = paragraph_vote and not (para is None or article_of is None)
    if mode == "keyword":
        if not paragraph_vote:
            return (*order(members, kw_scores), kw_set, sem_set)
        # The article BM25F ranking, and at half weight the keyword paragraph ranking.
        second = settings.keyword_paragraph_second
        votes = paragraph_keyword_scores(para, article_of, ok, depth, second)
        extra = member_ranks(votes, ok & (votes > 0), members)
        lists = [member_ranks(kw_scores, kw_ok, members), extra]
        fused = rrf_articles(lists, k, [1.0, KEYWORD_MODE_PARAGRAPH_WEIGHT])
        return (*order(members, fused), kw_set, sem_set)
    if mode == "semantic" or kw_set is None:
        return (*order(members, sem_rank if best is not None else np.zeros(n)), kw_set, sem_set)
    # The semantic vote reads cosines from hybrid_floor up, as the passage vote does: the
    # lowest cosine the match set reads, all a backend must return exactly (Milvus returns
    # none below it), so every backend ranks alike.
    if best is not None:
        sem_ok = sem_ok & (best >= cal.hybrid_floor)
    if settings.fusion == "weighted":
        fused = convex(kw_scores, kw_ok, sem_rank, sem_ok, members, settings.alpha)
    else:
        # Only the members' fused scores are read (``order``): their ranks among all eligible.
        lists = [member_ranks(kw_scores, kw_ok, members), member_ranks(sem_rank, sem_ok, members)]
        top = None  # the BM25F paragraph ranking, shared by votes 3 and 4
        if depth and not (para is None or article_of is None):
            top = keyword_top(para, article_of, ok, depth)
        if depth and not (para is None or cosines is None or article_of is None):
            floor = cal.hybrid_floor
            votes = passage_scores(para, cosines, article_of, ok, k, depth, floor, keyword_rows=top)
            lists.append(member_ranks(votes, ok & (votes > 0), members))
        if paragraph_vote:
            second = settings.keyword_paragraph_second
            votes = paragraph_keyword_scores(para, article_of, ok, depth, second, top)
            lists.append(member_ranks(votes, ok & (votes > 0), members))
        fused = rrf_articles(lists, settings.rrf_k)
    return (*order(members, fused), kw_set, sem_set)
