"""Did-you-mean bench: real misspellings corrected, correct queries and absent names left alone.

Data (``bench/data/``, see ``bench/data/README.md``):

* ``misspellings-wikipedia.txt``: Wikipedia's "Lists of common misspellings/For machines"
  (CC BY-SA 4.0). Kept: one-word pairs whose typo the index does not know and whose correction
  it does (a suggester can only offer words the index has).
* ``absent-names.txt``: real people, places and companies, kept when the index lacks them.

Queries: each typo alone and after a context word (the longest other word of the first paragraph
that contains the correction); the same with the correction (correct queries); each absent name
alone and with a news word ("Huawei ban"). Pairs are split by a hash of the typo into halves A
and B; the suggester's constants were chosen looking at A only, so B is the held-out check.

The baseline is the suggester this replaced (closest Levenshtein distance, then most frequent
word, each word on its own, lower-cased), run in the same process on the same index. It finds
its candidates with Whoosh's ``terms_within`` (the same words the numpy scan it shipped with
found, but slower), so its timings are an upper bound on what it cost.

    .venv/bin/python bench/suggest.py                      # Wikinews
    .venv/bin/python bench/suggest.py --corpus ../shared/data/reuters21578/docs.jsonl
    .venv/bin/python bench/suggest.py --index-dir index     # an index built from the corpus

Exits 1 when one of issue #12's examples (``CHECKS``) is not met.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from search import keyword, store
from search.ingest import read_corpus
from search.keyword import KeywordDoc, KeywordIndex, analyze, write_index
from search.models import Article
from search.paragraphs import split_article

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "data" / "wikinews" / "docs.jsonl"
CACHE = Path("/tmp/newsearch-eval")
CHECKS = [  # issue #12's examples: (query, expected suggestion or None)
    ("Sirya withdrawl", "Syria withdrawal"),
    ("Tigray", None),
    ("Huawei ban", None),
    ("Idlib de-escalation zone Syria", None),
]
_WORD = re.compile(r"[A-Za-z]+")


PER_HALF = 400  # misspelling pairs per half (the old suggester takes ~30 ms a query)


def build(corpus: Path) -> tuple[Path, list[list[str]]]:
    """A keyword-only index of ``corpus`` (cached) and its paragraphs' texts per article."""
    key = hashlib.sha1(f"{corpus.resolve()}:{corpus.stat().st_mtime_ns}".encode()).hexdigest()
    dest = CACHE / f"suggest-{corpus.parent.name}-{key[:10]}"
    articles = [a for a in read_corpus([corpus]) if isinstance(a, Article)]
    paras = [[p.text for p in split_article(a)] for a in articles]
    if not (dest / "done").exists():
        shutil.rmtree(dest, ignore_errors=True)
        docs, row = [], 0
        for a, texts in zip(articles, paras, strict=True):
            for t in texts:
                docs.append(KeywordDoc(row, a.id, a.title, t, a.source, a.date))
                row += 1
        write_index(dest, docs)
        (dest / "done").write_text("ok")
    return dest, paras


def old_suggest(kw: KeywordIndex, text: str) -> str | None:
    """The suggester before issue #12, as it was (Whoosh's ``terms_within`` gives the same
    candidates its numpy lexicon did)."""
    reader = kw._searcher().reader()
    changed = False

    def fix(m: re.Match[str]) -> str:
        nonlocal changed
        word = m.group(0)
        folded = keyword._fold(word)
        stems = analyze(word)
        if not folded or not stems or len(folded) < 3 or folded.isdigit():
            return word.lower()
        if any(reader.doc_frequency(f, st) for st in stems for f in ("text", "title")):
            return word.lower()
        for d in (1, 2):
            cands = list(reader.terms_within("spell_text", folded, d, prefix=1))
            if cands:
                best = max(cands, key=lambda c: (reader.frequency("spell_text", c), c))
                changed = True
                return best
        return word.lower()

    fixed = re.sub(r"\w+(?!\w|\*)", fix, text)
    return " ".join(fixed.split()) if changed else None


def load_pairs(lex) -> list[tuple[str, tuple[str, ...]]]:
    out, seen = [], set()
    for line in (DATA / "misspellings-wikipedia.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "->" not in line:
            continue
        typo, rhs = line.split("->", 1)
        fixes = tuple(w.strip() for w in rhs.split(",") if w.strip())
        if not typo.isalpha() or typo.lower() in seen:
            continue
        good = tuple(f for f in fixes if f.isalpha() and lex.frequency(lex.fold(f)))
        if good and not lex.known(lex.fold(typo)) and len(typo) >= 3:
            seen.add(typo.lower())
            out.append((typo, good))
    return out


def first_paragraphs(words: set[str], paras: list[list[str]]) -> dict[str, list[str]]:
    """For each of ``words`` (lower-case), the tokens of the first paragraph containing it."""
    out: dict[str, list[str]] = {}
    for texts in paras:
        for t in texts:
            toks = _WORD.findall(t)
            for x in {x.lower() for x in toks} & words:
                out.setdefault(x, toks)
            if len(out) == len(words):
                return out
    return out


def context_word(word: str, first: dict[str, list[str]], lex) -> str | None:
    """The longest other known word of the first paragraph that contains ``word``."""
    stem = analyze(word)
    cands = [
        x.lower()
        for x in first.get(word.lower(), [])
        if len(x) >= 5 and analyze(x) and analyze(x) != stem and lex.known(x.lower())
    ]
    return max(cands, key=lambda x: (len(x), x)) if cands else None


def _key(typo: str) -> bytes:
    return hashlib.sha1(typo.lower().encode()).digest()


def half(typo: str) -> str:
    return "A" if _key(typo)[0] % 2 == 0 else "B"


def rate(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}% ({n}/{total})" if total else "n/a"


def run(fn: Callable[[str], str | None], sets: dict, times: dict[str, list[float]]) -> dict:
    res = {}
    for key, items in sets.items():
        kind = "correct queries" if key.startswith("correct") else "other queries"
        right = wrong = 0
        for query, expected in items:
            t0 = time.perf_counter()
            got = fn(query)
            times.setdefault(kind, []).append(time.perf_counter() - t0)
            if got is None or got.casefold() == query.casefold():
                continue
            if expected and got.casefold() in {e.casefold() for e in expected}:
                right += 1
            else:
                wrong += 1
        res[key] = (right, wrong, len(items))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument(
        "--index-dir",
        type=Path,
        help="use this built index's keyword index (of --corpus) instead of a keyword-only one",
    )
    args = ap.parse_args(argv)
    path, paras = build(args.corpus)
    if args.index_dir:
        path = store.current_generation(args.index_dir) / "whoosh"
    kw = KeywordIndex(path)
    kw.prepare()
    lex = kw.lexicon()
    pairs = load_pairs(lex)
    names = []
    for line in (DATA / "absent-names.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            n, ctx = line.split("\t")
            if not lex.known(lex.fold(n)) and lex.known(lex.fold(ctx)):
                names.append((n, ctx))
    sets: dict[str, list[tuple[str, tuple[str, ...] | None]]] = {}
    chosen = {
        h: sorted((p for p in pairs if half(p[0]) == h), key=lambda p: _key(p[0]))[:PER_HALF]
        for h in ("A", "B")
    }
    first = first_paragraphs({f[0].lower() for c in chosen.values() for _, f in c}, paras)
    for h, mine in chosen.items():
        two, ok1, ok2 = [], [], []
        for typo, fixes in mine:
            ctx = context_word(fixes[0], first, lex)
            ok1.append((fixes[0], None))
            if ctx:
                two.append((f"{ctx} {typo}", tuple(f"{ctx} {f}" for f in fixes)))
                ok2.append((f"{ctx} {fixes[0]}", None))
        sets[f"misspelled 1 word ({h})"] = [(t, f) for t, f in mine]
        sets[f"misspelled 2 words ({h})"] = two
        sets[f"correct 1 word ({h})"] = ok1
        sets[f"correct 2 words ({h})"] = ok2
    sets["absent name"] = [(n, None) for n, _ in names]
    sets["absent name + word"] = [(f"{n} {c}", None) for n, c in names]

    print(f"corpus: {args.corpus} ({kw.doc_count} paragraphs)")
    print(
        f"misspelling pairs usable: {len(pairs)} (up to {PER_HALF} per half used); "
        f"absent names: {len(names)}\n"
    )
    times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    results = {
        "old": run(lambda q: old_suggest(kw, q), sets, times["old"]),
        "new": run(kw.suggest, sets, times["new"]),
    }
    head = "| query set | queries | old: right | old: wrong | new: right | new: wrong |"
    print(head + "\n" + "|---" * 6 + "|")
    for key in sets:
        (r0, w0, n), (r1, w1, _) = results["old"][key], results["new"][key]
        fix = key.startswith("misspelled")
        print(
            f"| {key} | {n} | {rate(r0, n) if fix else '–'} | {rate(w0, n)} "
            f"| {rate(r1, n) if fix else '–'} | {rate(w1, n)} |"
        )
    print("\n| suggester | queries | calls | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|---|")
    for who in ("old", "new"):
        for kind, ts in sorted(times[who].items()):
            ms = sorted(1000 * t for t in ts)
            print(
                f"| {who} | {kind} | {len(ms)} | {statistics.median(ms):.2f} "
                f"| {ms[int(0.95 * len(ms))]:.2f} | {ms[-1]:.1f} |"
            )
    print("\n| check | old | new | expected |")
    print("|---|---|---|---|")
    failed = 0
    for q, want in CHECKS:
        a, b = old_suggest(kw, q), kw.suggest(q)
        failed += b != want
        print(f"| `{q}` | {a} | {b} | {want} |")
    kw.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
