"""❤ scores for a day list: a 1,000-paper day against 10, 50 and 200 keywords, beside two baselines.

The papers are synthetic but shaped like arXiv's (seeded: the same every run): titles of
~10 words, abstracts of ~170 words drawn from a Zipf-like vocabulary of ~5,000 words
(some accented, some TeX), 1–8 authors. Keywords are drawn from the same vocabulary,
a third of them two-word phrases, so many of them do match.

Each timing is one whole day list: building the scorer and scoring every paper, as a
``?sort=pref`` request does. Measured beside it, in the same run:

- ``naive in``: for each paper and each keyword, ``keyword in text.lower()`` on title,
  abstract and authors (substring tests: wrong for whole words and accents, but the
  obvious first cut);
- ``regex per keyword``: one compiled ``\\b…\\b`` pattern per keyword, ``findall`` per field
  on folded text (right for whole words, the obvious correct version).

Prints the median and p95 of ``--runs`` repetitions per case (5 for a case slower than a second, where
p95 is the slowest), and the machine's load before and after.

    .venv/bin/python bench/bench_preferences.py
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.analysis import fold
from search.preferences import Scorer

Paper = tuple[str, str, list[str]]
Keywords = list[tuple[str, int]]


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghiklmnoprstuvwy"
    words = set()
    while len(words) < size:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(3, 11)))
        if rng.random() < 0.02:
            word = word.replace("o", "ö", 1)
        words.add(word)
    return sorted(words)


def make_papers(rng: random.Random, vocab: list[str], n: int) -> list[Paper]:
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-like

    def text(k: int) -> str:
        out = rng.choices(vocab, weights, k=k)
        if rng.random() < 0.3:
            out.insert(rng.randrange(len(out)), r"$\mathcal{O}(n)$")
        return " ".join(out)

    papers = []
    for _ in range(n):
        title = text(rng.randint(6, 14)).capitalize()
        abstract = text(rng.randint(120, 220)) + "."
        authors = [
            f"{rng.choice(vocab).title()} {rng.choice(vocab).title()}" for _ in range(rng.randint(1, 8))
        ]
        papers.append((title, abstract, authors))
    return papers


def make_keywords(rng: random.Random, vocab: list[str], n: int) -> Keywords:
    common = vocab[:600]  # Zipf-like: these occur
    out: Keywords = []
    while len(out) < n:
        kw = rng.choice(common) if rng.random() < 0.67 else f"{rng.choice(common)} {rng.choice(common)}"
        if kw not in dict(out):
            out.append((kw, rng.randint(1, 9)))
    return out


def scorer_day(keywords: Keywords, papers: list[Paper]) -> int:
    scorer = Scorer(keywords)
    return sum(scorer.score(t, a, au).score for t, a, au in papers)


def naive_in_day(keywords: Keywords, papers: list[Paper]) -> int:
    total = 0
    lowered = [(k.lower(), w) for k, w in keywords]
    for title, abstract, authors in papers:
        fields = (title.lower(), abstract.lower(), " ".join(authors).lower())
        for kw, weight in lowered:
            total += weight * sum(2 if i == 0 else 1 for i, f in enumerate(fields) if kw in f)
    return total


def regex_day(keywords: Keywords, papers: list[Paper]) -> int:
    patterns = [(re.compile(r"\b" + re.escape(fold(k)) + r"\b"), w) for k, w in keywords]
    total = 0
    for title, abstract, authors in papers:
        fields = ((2, fold(title)), (1, fold(abstract)), (1, fold(" ; ".join(authors))))
        for pattern, weight in patterns:
            for factor, text in fields:
                total += weight * factor * min(len(pattern.findall(text)), 3)
    return total


def measure(fn: Callable[[Keywords, list[Paper]], int], keywords: Keywords, papers: list[Paper],
            runs: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    fn(keywords, papers)  # warm
    if time.perf_counter() - start > 1.0:
        runs = min(runs, 5)  # the slow baseline: five runs are enough to see it
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(keywords, papers)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--papers", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--keywords", default="10,50,200")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    vocab = vocabulary(rng)
    papers = make_papers(rng, vocab, args.papers)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.papers} papers, {args.runs} runs per case (one run = one whole day list)")
    print(f"{'keywords':>8}  {'method':<20} {'median ms':>10} {'p95 ms':>8} {'runs':>5}  {'papers > 0':>10}")
    for n in (int(x) for x in args.keywords.split(",")):
        keywords = make_keywords(rng, vocab, n)
        matched = sum(1 for t, a, au in papers if Scorer(keywords).score(t, a, au).score)
        methods = (("Scorer", scorer_day), ("naive in", naive_in_day), ("regex per keyword", regex_day))
        for name, fn in methods:
            median, p95, runs = measure(fn, keywords, papers, args.runs)
            shown = str(matched) if name == "Scorer" else ""
            print(f"{n:>8}  {name:<20} {median:>10.1f} {p95:>8.1f} {runs:>5}  {shown:>10}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
