"""For you figures: train and score time, peak memory, quality at 200,000 papers, ours beside scikit-learn.

The corpus is bench_search's seeded Zipf generator (titles of 6-14 words,
abstracts of 110-200) with topics laid over it: each paper belongs to one of
``TOPICS`` topics, and a tenth of its words (two of its title's) are drawn from
its topic's 25 words of middle frequency. The reader stars ``STARS`` papers of
topic 0 (and two papers of other topics, as readers do); quality is
precision@k of topic-0 papers among the best-scored papers of a held-out day
(2,000 papers never trained on) and of all 200,000.

Three ways to train, each measured in its own forked process (its peak RSS
above what the process held at the fork; /proc/self/clear_refs resets the
peak):

* **numpy** (what the daemon runs, :mod:`search.recommend`): the stars against
  3,000 sampled papers, vocabulary and idf from that sample, squared-hinge SVM
  by accelerated gradient;
* **sklearn-sample**: the same sample through scikit-learn's
  ``TfidfVectorizer`` (our tokenizer) and ``LinearSVC(class_weight="balanced")``;
* **sklearn-all** (arxiv-sanity-lite's way): ``TfidfVectorizer`` over every
  paper (unigrams, 20,000 words, min_df 5, max_df 0.1, sublinear tf) and
  ``LinearSVC(C=0.01, class_weight="balanced", tol=1e-6)`` on all 200,000 rows.

Scoring is timed for a 500-paper day from its text (what a day list asks,
median and p95 over repeats) and for all 200,000 papers from their text, in
chunks of 5,000 (once).

    .venv/bin/python bench/bench_recommend.py              # 200,000 papers
    .venv/bin/python bench/bench_recommend.py --papers 20000
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from bench_search import GLUE, Corpus  # noqa: E402

from search.features import paper_terms  # noqa: E402
from search.recommend import NEGATIVES, train  # noqa: E402

TOPICS = 40
TOPIC_WORDS = 25
STARS = 30
DAY = 500
HELD_OUT = 2000
CHUNK = 5000

Texts = list[tuple[str, str]]


def generate(n: int, seed: int = 11) -> tuple[Texts, np.ndarray]:
    """bench_search's vocabulary and Zipf weights (function words every fourth), drawn by NumPy; topics."""
    corpus = Corpus(seed, vocab_size=60_000)
    vocab = np.array(corpus.vocab, dtype=object)
    cum = np.asarray(corpus.cum) / corpus.cum[-1]
    glue = np.array(sorted(set(GLUE)), dtype=object)
    rng = np.random.default_rng(seed)
    topic_ids = [np.arange(2000 + t * 300, 2000 + t * 300 + TOPIC_WORDS) for t in range(TOPICS)]
    topics = rng.integers(0, TOPICS, n).astype(np.int32)
    texts: Texts = []
    for i in range(n):
        parts = []
        for size, on_topic in ((int(rng.integers(6, 15)), 2), (int(rng.integers(110, 201)), 0)):
            ids = np.searchsorted(cum, rng.random(size))
            on_topic = on_topic or size // 10
            ids[rng.choice(size, on_topic, replace=False)] = rng.choice(topic_ids[topics[i]], on_topic)
            words = vocab[np.minimum(ids, len(vocab) - 1)]
            words[::4] = rng.choice(glue, len(words[::4]))
            parts.append(" ".join(words.tolist()))
        texts.append((parts[0], parts[1]))
    return texts, topics


IMPORTS = (
    ("scipy.sparse", "scipy.sparse"),
    ("sklearn.svm + feature_extraction", "sklearn.svm,sklearn.feature_extraction.text"),
)


def import_mib(modules: str) -> float:
    """RSS that importing ``modules`` adds to a fresh interpreter that has imported NumPy (MiB)."""
    code = (
        "import re, importlib, numpy\n"
        "def rss(): return int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])\n"
        f"a = rss()\nfor m in {modules!r}.split(','): importlib.import_module(m)\nprint(rss() - a)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(out.stdout.strip()) / 1024


def status_kib(key: str) -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(key + ":"):
            return int(row.split()[1])
    return 0


def in_child(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` in a forked process; its result with the peak RSS it added (MiB)."""

    def run(conn: Any) -> None:
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        base = status_kib("VmRSS")
        out = fn()
        out["peak_mib"] = (status_kib("VmHWM") - base) / 1024
        conn.send(out)
        conn.close()

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=run, args=(child,))
    proc.start()
    out = parent.recv()
    proc.join()
    return dict(out)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def precision(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, kind="stable")[:k]
    return float(relevant[top].mean())


def cell(value: float, unit: str, width: int) -> str:
    """A figure right-aligned in ``width`` (``-`` where it was not measured)."""
    text = "-" if value != value else (f"{value:.1f}{unit}" if unit else f"{value:.2f}")
    return f"{text:>{width + len(unit)}}"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n, repeats = args.papers, args.repeats
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    texts, topics = generate(n + HELD_OUT)
    held_texts, held_topics = texts[n:], topics[n:]
    texts, topics = texts[:n], topics[:n]
    took = time.perf_counter() - t0
    print(f"corpus: {n:,} papers + {HELD_OUT:,} held out, {TOPICS} topics, generated in {took:.0f} s")
    rng = random.Random(5)
    on_topic = [i for i in range(n) if topics[i] == 0]
    starred = rng.sample(on_topic, STARS) + [i for i in range(n) if topics[i] != 0][:2]
    starred_set = set(starred)
    # the daemon's sample: NEGATIVES other papers at random
    sample = [i for i in rng.sample(range(n), NEGATIVES + len(starred)) if i not in starred_set][:NEGATIVES]
    held_relevant = held_topics == 0
    all_relevant = topics == 0
    day = held_texts[:DAY]

    def score_all(score_chunk: Callable[[Texts], np.ndarray]) -> tuple[float, np.ndarray]:
        t = time.perf_counter()
        out = np.concatenate([score_chunk(texts[s : s + CHUNK]) for s in range(0, n, CHUNK)])
        return time.perf_counter() - t, out

    def ours() -> dict[str, Any]:
        def fit() -> Any:
            return train((paper_terms(*texts[i]) for i in starred), (paper_terms(*texts[i]) for i in sample))

        train_s, model = timed(fit, repeats)

        def score(chunk: Texts, explain: bool = True) -> np.ndarray:
            return model.score([paper_terms(t, a) for t, a in chunk], explain=explain)[0]

        day_s, _ = timed(lambda: score(day), repeats * 3)  # with explanations, as a page asks
        all_s, all_scores = score_all(lambda chunk: score(chunk, explain=False))
        held = score(held_texts)
        size = sum(len(t) for t in model.vocabulary.terms) + model.weights.nbytes
        return {
            "train": train_s, "day": day_s, "all": all_s,
            "p10": precision(held, held_relevant, 10), "p50": precision(held, held_relevant, 50),
            "all100": precision(all_scores, all_relevant, 100),
            "model": f"{len(model.vocabulary):,} words, ~{size / 2**20:.1f} MiB of terms and weights",
        }

    def analyzer(text: str) -> list[str]:
        return list(paper_terms(*text.split("\x00", 1)).elements())

    def joined(chunk: Texts) -> list[str]:
        return [f"{t}\x00{a}" for t, a in chunk]

    def sklearn_sample() -> dict[str, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        def fit() -> Any:
            vec = TfidfVectorizer(analyzer=analyzer, min_df=2, max_df=0.5, sublinear_tf=True)
            x = vec.fit_transform(joined([texts[i] for i in starred + sample]))
            y = np.r_[np.ones(len(starred)), np.zeros(len(sample))]
            clf = LinearSVC(C=0.1, class_weight="balanced", tol=1e-4, max_iter=10000).fit(x, y)
            return vec, clf

        train_s, (vec, clf) = timed(fit, repeats)

        def score(chunk: Texts) -> np.ndarray:
            return np.asarray(clf.decision_function(vec.transform(joined(chunk))))

        day_s, _ = timed(lambda: score(day), repeats * 3)
        held = score(held_texts)  # scoring all from text costs what sklearn-all's transform does
        return {
            "train": train_s, "day": day_s, "all": float("nan"),
            "p10": precision(held, held_relevant, 10), "p50": precision(held, held_relevant, 50),
            "all100": float("nan"),
            "model": f"{len(vec.vocabulary_):,} words",
        }

    def sklearn_all() -> dict[str, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        t = time.perf_counter()
        vec = TfidfVectorizer(analyzer=analyzer, max_features=20000, min_df=5, max_df=0.1, sublinear_tf=True)
        x = vec.fit_transform(joined(texts))
        features_s = time.perf_counter() - t
        y = np.zeros(n)
        y[starred] = 1

        def fit() -> Any:
            return LinearSVC(C=0.01, class_weight="balanced", tol=1e-6, max_iter=10000).fit(x, y)

        train_s, clf = timed(fit, 1)  # tens of seconds at 200,000 rows: once
        t = time.perf_counter()
        all_scores = np.asarray(clf.decision_function(x))
        all_s = time.perf_counter() - t

        def score(chunk: Texts) -> np.ndarray:
            return np.asarray(clf.decision_function(vec.transform(joined(chunk))))

        day_s, _ = timed(lambda: score(day), repeats * 3)
        held = score(held_texts)
        return {
            "features": features_s, "train": train_s, "day": day_s, "all": all_s,
            "p10": precision(held, held_relevant, 10), "p50": precision(held, held_relevant, 50),
            "all100": precision(all_scores, all_relevant, 100),
            "model": f"{x.shape[1]:,} words; X {x.nnz:,} non-zeros, "
            f"{x.data.nbytes + x.indices.nbytes >> 20} MiB",
        }

    print(f"stars: {STARS} of topic 0 and 2 of others; held-out day {HELD_OUT:,} papers "
          f"({int(held_relevant.sum())} of topic 0); {int(all_relevant.sum()):,} of topic 0 in all")
    print(f"{'':16} {'train p50':>10} {'p95':>8} {'day(500) p50':>13} {'p95':>8} {'score all':>10} "
          f"{'peak RSS':>9} {'P@10':>5} {'P@50':>5} {'P@100 all':>9}")
    def ours_train_once() -> dict[str, Any]:
        t = time.perf_counter()
        model = train((paper_terms(*texts[i]) for i in starred), (paper_terms(*texts[i]) for i in sample))
        return {"seconds": time.perf_counter() - t, "words": len(model.vocabulary)}

    once = in_child(ours_train_once)
    print(f"numpy (ours), one training from text as the daemon's worker thread runs it: "
          f"{once['seconds']:.2f} s, peak RSS +{once['peak_mib']:.0f} MiB")
    runs = (("numpy (ours)", ours), ("sklearn-sample", sklearn_sample), ("sklearn-all", sklearn_all))
    for name, fn in runs:
        r = in_child(fn)
        print(
            f"{name:16} {statistics.median(r['train']):9.3f}s {p95(r['train']):7.3f}s "
            f"{statistics.median(r['day']) * 1000:11.1f}ms {p95(r['day']) * 1000:6.1f}ms "
            f"{cell(r['all'], 's', 9)} "
            f"{r['peak_mib']:6.0f} MiB {r['p10']:5.2f} {r['p50']:5.2f} {cell(r['all100'], '', 9)}"
        )
        extra = (
            f"; tf-idf of all {n:,} papers first: {r['features']:.1f} s (not in train)"
            if "features" in r
            else ""
        )
        print(f"{'':16} model: {r['model']}; train n={len(r['train'])}, day n={len(r['day'])}{extra}")
    for label, modules in IMPORTS:
        print(f"import cost in a fresh process beside NumPy: {label:<34} {import_mib(modules):6.1f} MiB RSS")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
