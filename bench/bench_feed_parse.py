"""Parsing one day's feed of 2,000 entries: median seconds, beside plain feedparser and bare ElementTree.

The feed is generated from a fixed seed in arXiv's Atom (and RSS 2.0) format,
element for element as rss.arxiv.org serves it, with abstracts of realistic
length (~1,100 characters). ``parse_feed`` is the crawler's whole parse
(feedparser + records + validation); "+ cleaning" adds the TeX/whitespace
cleaning the store does before writing. Baselines in the same run:
``feedparser.parse`` with its defaults, and ``xml.etree`` alone (the floor for
any parser of these bytes).

    .venv/bin/python bench/bench_feed_parse.py [--entries 2000] [--repeat 7] [--seed 20240115]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402

from feeds import store  # noqa: E402
from feeds.parse_rss import parse_feed  # noqa: E402

WORDS = (
    "learning model network neural data training deep method graph optimization algorithm results "
    "performance problem approach propose show based using representation attention transformer language "
    "task generalization robust sparse kernel gradient convergence bound theorem prove analysis"
).split()
NAMES = [
    "Ada Lovelace", "Alan Turing", "Grace Hopper", "Emmy Noether",
    'J\\"urgen Schmidhuber', "Bal\\'azs Szegedy", "Wei Chen",
]  # fmt: skip
TYPES = ["new"] * 5 + ["cross"] * 3 + ["replace"] * 2 + ["replace-cross"]


def generate(entries: int, seed: int, fmt: str = "atom") -> bytes:
    rnd = random.Random(seed)
    items = []
    for i in range(entries):
        kind = rnd.choice(TYPES)
        version = 1 if kind in ("new", "cross") else rnd.randint(2, 4)
        pid = f"2401.{i + 1:05d}"
        title = escape(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))).capitalize())
        abstract = escape(" ".join(rnd.choice(WORDS) for _ in range(150)))
        cats = rnd.sample(["cs.LG", "cs.AI", "cs.CL", "stat.ML", "math.OC"], rnd.randint(1, 3))
        authors = escape(", ".join(rnd.sample(NAMES, rnd.randint(1, 5))))
        desc = f"arXiv:{pid}v{version} Announce Type: {kind} \nAbstract: {abstract}"
        if fmt == "atom":
            cat_xml = "".join(f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in cats)
            items.append(
                f"<entry><id>oai:arXiv.org:{pid}v{version}</id><title>{title}</title>"
                f"<updated>2024-01-15T00:00:00-05:00</updated>"
                f'<link href="https://arxiv.org/abs/{pid}" rel="alternate" type="text/html"/>'
                f"<summary>{desc}</summary>{cat_xml}<published>2024-01-15T00:00:00-05:00</published>"
                f"<arxiv:announce_type>{kind}</arxiv:announce_type>"
                f"<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights><dc:creator>{authors}</dc:creator>"
                f"</entry>\n"
            )
        else:
            cat_xml = "".join(f"<category>{c}</category>" for c in cats)
            items.append(
                f"<item><title>{title}</title><link>https://arxiv.org/abs/{pid}</link><description>{desc}</description>"
                f'<guid isPermaLink="false">oai:arXiv.org:{pid}v{version}</guid>{cat_xml}'
                f"<pubDate>Mon, 15 Jan 2024 00:00:00 -0500</pubDate>"
                f"<arxiv:announce_type>{kind}</arxiv:announce_type>"
                f"<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights><dc:creator>{authors}</dc:creator>"
                f"</item>\n"
            )
    if fmt == "atom":
        head = (
            "<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" "
            'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xml:lang="en-us">\n'
            "<id>https://rss.arxiv.org/atom/cs.LG</id><title>cs.LG updates on arXiv.org</title>"
            "<updated>2024-01-15T00:00:00-05:00</updated>\n"
        )
        return (head + "".join(items) + "</feed>\n").encode()
    head = (
        "<?xml version='1.0' encoding='UTF-8'?>\n<rss xmlns:arxiv=\"http://arxiv.org/schemas/atom\" "
        'xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel><title>cs.LG updates on arXiv.org'
        "</title><link>http://rss.arxiv.org/rss/cs.LG</link><description>cs.LG updates</description>"
        "<lastBuildDate>Mon, 15 Jan 2024 00:00:00 -0500</lastBuildDate>\n"
    )
    return (head + "".join(items) + "</channel></rss>\n").encode()


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (the machine may be shared; CPU time is what the parse costs)."""
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seed", type=int, default=20240115)
    args = ap.parse_args()
    atom = generate(args.entries, args.seed, "atom")
    rss = generate(args.entries, args.seed, "rss")
    day = parse_feed(atom, "cs.LG")
    assert len(day.records) == args.entries, "the generated feed must parse whole"
    print(
        f"bench_feed_parse: Python {platform.python_version()}, feedparser {feedparser.__version__}; "
        f"feed generated from seed {args.seed}: {args.entries} entries, Atom {len(atom) / 1e6:.1f} MB, "
        f"RSS {len(rss) / 1e6:.1f} MB; median of {args.repeat} runs"
    )
    rows = [
        ("baseline: xml.etree.ElementTree.fromstring (Atom)", lambda: ET.fromstring(atom)),  # noqa: S314 - our own bytes
        ("baseline: feedparser.parse, defaults (Atom)", lambda: feedparser.parse(atom)),
        ("parse_feed (Atom)", lambda: parse_feed(atom, "cs.LG")),
        ("parse_feed (RSS 2.0)", lambda: parse_feed(rss, "cs.LG")),
        (
            "parse_feed + cleaning for the store (Atom)",
            lambda: store.prepare(parse_feed(atom, "cs.LG").records, "rss"),
        ),
    ]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':52} {'median s':>9} {'entries/s':>10} {'CPU s':>7}")
    results: dict[str, tuple[float, float]] = {}
    for label, fn in rows:
        t, cpu = median_time(fn, args.repeat)
        results[label] = (t, cpu)
        print(f"{label:52} {t:>9.3f} {args.entries / t:>10,.0f} {cpu:>7.3f}")
    wall, cpu = results["parse_feed (Atom)"]
    fp_cpu = results["baseline: feedparser.parse, defaults (Atom)"][1]
    print(
        f"\none day's feed of {args.entries} entries: {wall:.3f} s wall, {cpu:.3f} s CPU (target <= 1 s); "
        f"feedparser's own parse is {fp_cpu / cpu:.0%} of that CPU time; "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
