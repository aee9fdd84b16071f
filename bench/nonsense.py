"""Write the nonsense query lists: pairs of real dictionary words no shared corpus contains.

The words come from the Debian ``wamerican`` list (/usr/share/dict/words, SCOWL); a word is
kept when it is 5-10 lowercase letters and neither it nor its stem occurs in any corpus under
../shared/data (so the keyword leg has nothing to match and only a semantic floor can say "no
results"). Two disjoint seeded lists of 100: ``calibrate`` (used to choose the semantic floor)
and ``test`` (only reported). Run once; the lists are kept in bench/data/.

    .venv/bin/python bench/nonsense.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from common import DATA, REPO

from search.keyword import analyze

WORDS = Path("/usr/share/dict/words")
OUT = REPO / "bench" / "data"


def corpus_vocabulary() -> set[str]:
    vocab: set[str] = set()
    for docs in sorted(DATA.glob("*/docs.jsonl")):
        with open(docs, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                text = f"{rec.get('title') or ''} {rec.get('text') or ''}".lower()
                vocab.update(re.findall(r"[a-z]+", text))
    return vocab


def main() -> None:
    vocab = corpus_vocabulary()
    stems = {s for w in vocab if len(w) >= 4 for s in analyze(w)}
    words = sorted(
        w
        for w in WORDS.read_text(encoding="utf-8").split()
        if re.fullmatch(r"[a-z]{5,10}", w) and w not in vocab and not set(analyze(w)) & stems
    )
    rng = random.Random(12)
    rng.shuffle(words)
    pairs = [f"{words[2 * i]} {words[2 * i + 1]}" for i in range(200)]
    OUT.mkdir(exist_ok=True)
    (OUT / "nonsense_calibrate.txt").write_text("\n".join(pairs[:100]) + "\n", encoding="utf-8")
    (OUT / "nonsense_test.txt").write_text("\n".join(pairs[100:]) + "\n", encoding="utf-8")
    print(f"{len(words)} candidate words; wrote 2 x 100 pairs to {OUT}")


if __name__ == "__main__":
    main()
