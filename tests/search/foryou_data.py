"""A generated corpus with topics, for the For you tests: papers on four topics over shared filler words."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from search_data import DAY, insert_papers

from core.database import Database
from feeds.models import Star
from search.features import paper_terms

TOPICS = {
    "diffusion": "diffusion denoising sampler score-matching noise schedule generative likelihood "
    "reverse-time stochastic-differential guidance latent".split(),
    "graphs": "graph node edge message-passing neighbourhood spectral laplacian subgraph pooling "
    "isomorphism molecule adjacency".split(),
    "quantum": "qubit entanglement hamiltonian fidelity decoherence circuit superposition unitary "
    "measurement photon lattice spin".split(),
    "language": "token transformer corpus translation vocabulary prompt syntax sentence dialogue "
    "tokenizer multilingual summarization".split(),
}
FILLER = """model models learning training network networks performance experiments benchmark
accuracy efficient robust framework analysis theory algorithm algorithms optimization
evaluation dataset datasets large scale task tasks problem problems improve improves improved
state art strong simple novel general signal structure approximation bounds empirical setting
settings demonstrate significant prior recent baseline baselines representation
representations loss function functions objective parameters estimation inference""".split()


def paper_text(rng: random.Random, topic: str) -> tuple[str, str]:
    words = TOPICS[topic]
    title = rng.sample(words, 2) + rng.sample(FILLER, 4)
    abstract = rng.choices(words, k=10) + rng.choices(FILLER, k=30)
    rng.shuffle(title)
    rng.shuffle(abstract)
    return " ".join(title).capitalize(), " ".join(abstract).capitalize() + "."


def corpus(seed: int, per_topic: int) -> list[tuple[str, str, str]]:
    """``per_topic`` papers of each topic as (topic, title, abstract), topics interleaved."""
    rng = random.Random(seed)
    return [(t, *paper_text(rng, t)) for _ in range(per_topic) for t in TOPICS]


def terms(docs: list[tuple[str, str, str]]) -> list[Counter[str]]:
    return [paper_terms(title, abstract) for _t, title, abstract in docs]


OLD = dt.datetime(2023, 6, 1, 12, tzinfo=dt.UTC)
STARRED = 8  # older diffusion papers starred


def fill(
    db: Database, *, stars: int = STARRED, per_topic_old: int = 40, per_topic_day: int = 5
) -> dict[str, str]:
    """Older papers (no listing) and a cs.LG day (DAY) with ``per_topic_day`` papers per topic in
    arXiv's order; ``stars`` older diffusion papers starred. Returns every paper's topic by id."""
    papers: list[dict[str, Any]] = []
    starred: list[str] = []
    topics: dict[str, str] = {}
    for i, (topic, title, abstract) in enumerate(corpus(1, per_topic_old)):
        pid = f"2306.{i:05d}"
        topics[pid] = topic
        papers.append({"id": pid, "title": title, "abstract": abstract, "authors": ["A Writer"],
                       "categories": "cs.LG", "when": OLD})
        if topic == "diffusion" and len(starred) < stars:
            starred.append(pid)
    for i, (topic, title, abstract) in enumerate(corpus(2, per_topic_day)):
        pid = f"2403.{i + 100:05d}"
        topics[pid] = topic
        papers.append({"id": pid, "title": title, "abstract": abstract, "authors": ["B Writer"],
                       "categories": "cs.LG", "when": dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC),
                       "ann": [("cs.LG", DAY, "new", i + 1)]})
    insert_papers(db, papers)
    star_all(db, starred)
    return topics


def star_all(db: Database, ids: list[str]) -> None:
    def add(session: Any) -> None:
        for pid in ids:
            session.add(Star(paper_id=pid, starred_at=OLD))

    db.write_blocking(add)
