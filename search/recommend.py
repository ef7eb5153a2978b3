"""Recommendations from the reader's stars: a linear SVM on tf-idf, as arxiv-sanity-lite ranks, in NumPy.

The starred papers are the positives and a random sample of the other papers
(:data:`NEGATIVES`, a few thousand) the negatives; the vocabulary and its idf
come from the same sample, so training never holds a matrix of every paper.
The model is an L2-regularised squared-hinge linear SVM (LinearSVC's loss) with
balanced class weights, fitted by Nesterov's accelerated gradient on the sparse
rows of :mod:`search.features`. A paper's score is its row times the weights;
its explanation is the words it shares with the starred papers that add most
to that score.

:class:`Recommender` keeps one model, keyed by the star list and the database's
write generation: a star change retrains at the next request, a write
generation change only once the model is older than :data:`REFRESH_S` (an
import bumps the generation every few seconds). Reading, training and scoring
run in worker threads; the event loop only awaits them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feeds.models import Paper, Star
from feeds.store import current_generation
from search.features import Bags, Floats, Rows, Vocabulary, paper_terms
from search.ports import PaperReader

__all__ = ["MIN_STARS", "Model", "Ranking", "Recommender", "train"]

_LOGGER = logging.getLogger(__name__)
MIN_STARS = 3  # fewer starred papers say too little about a reader: arXiv's order is kept
NEGATIVES = 3000  # other papers sampled as the negatives (and the vocabulary's sample)
C = 0.1  # the data term's weight against the L2 penalty (balanced class weights sum to n)
MAX_ITER = 60  # P@k on bench_recommend's corpus is the same from 25 on
TOL = 1e-3  # stop when the gradient's norm falls below TOL times its first norm
REFRESH_S = 600.0  # a model outlives write-generation changes for this long; a star change retrains at once
EXPLAIN = 3  # shared words shown per paper


@dataclass
class Model:
    """A trained linear model over a vocabulary, and which of its words occur in starred papers."""

    vocabulary: Vocabulary
    weights: Floats
    bias: float
    shared: np.ndarray  # bool per term: the term occurs in a starred paper
    stars: int

    def score(
        self, docs: Sequence[Counter[str]], *, explain: bool = True
    ) -> tuple[Floats, list[list[str]]]:
        """Each paper's score, and unless not ``explain`` the shared words that raise it most (best first)."""
        rows = self.vocabulary.rows(docs)
        scores = rows.dot(self.weights) + self.bias
        if not explain:
            return scores, []
        gains = rows.data * self.weights[rows.indices]
        because: list[list[str]] = []
        terms = self.vocabulary.terms
        for i in range(rows.count):
            lo, hi = int(rows.indptr[i]), int(rows.indptr[i + 1])
            idx, gain = rows.indices[lo:hi], gains[lo:hi]
            keep = self.shared[idx] & (gain > 0)
            idx, gain = idx[keep], gain[keep]
            top = np.argsort(-gain, kind="stable")[:EXPLAIN]
            because.append([terms[int(idx[j])] for j in top])
        return scores, because


def train(
    positives: Iterable[Counter[str]],
    negatives: Iterable[Counter[str]],
    *,
    c: float = C,
    max_iter: int = MAX_ITER,
) -> Model:
    """Fit the model on starred papers' words (positives) against sampled others' (negatives).

    Each paper's words are packed into arrays as they come: from generators, one ``Counter`` lives at a time.
    """
    bags = Bags()
    for doc in positives:
        bags.add(doc)
    n_pos = len(bags)
    for doc in negatives:
        bags.add(doc)
    n_neg = len(bags) - n_pos
    vocabulary, rows = Vocabulary.build(bags)
    del bags
    y = np.concatenate((np.ones(n_pos), -np.ones(n_neg)))
    n = n_pos + n_neg
    cw = np.where(y > 0, n / (2.0 * max(n_pos, 1)), n / (2.0 * max(n_neg, 1)))  # "balanced"
    weights, bias = _fit(rows, y, cw, len(vocabulary), c, max_iter)
    shared = np.zeros(len(vocabulary), dtype=bool)
    shared[rows.indices[: int(rows.indptr[n_pos])]] = True
    return Model(vocabulary, weights, bias, shared, n_pos)


def _fit(
    rows: Rows, y: Floats, cw: Floats, size: int, c: float, max_iter: int
) -> tuple[Floats, float]:
    """Minimise ½‖w‖² + ½b² + c Σ cwᵢ max(0, 1 − yᵢ(xᵢ·w + b))² (rows have unit length)."""
    lipschitz = 1.0 + 4.0 * c * float(cw.sum())  # ‖xᵢ‖² + 1 ≤ 2 for every row
    step = 1.0 / lipschitz

    def gradient(w: Floats, b: float) -> tuple[Floats, float]:
        margin = np.maximum(0.0, 1.0 - y * (rows.dot(w) + b))
        r = -2.0 * c * cw * y * margin
        return w + rows.tdot(r, size), b + float(r.sum())

    w = np.zeros(size)
    b = 0.0
    vw, vb = w.copy(), b
    t = 1.0
    first = 0.0
    for _ in range(max_iter):
        gw, gb = gradient(vw, vb)
        norm = float(np.sqrt(gw @ gw + gb * gb))
        if not first:
            first = norm or 1.0
        if norm <= TOL * first:
            return vw, vb
        w_next, b_next = vw - step * gw, vb - step * gb
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum = (t - 1.0) / t_next
        vw = w_next + momentum * (w_next - w)
        vb = b_next + momentum * (b_next - b)
        w, b, t = w_next, b_next, t_next
    return w, b


# ---------------------------------------------------------------- serving


@dataclass
class Ranking:
    """Scores and explanations for some papers, or why there are none (``note``)."""

    scores: dict[str, float] = field(default_factory=dict)
    because: dict[str, list[str]] = field(default_factory=dict)
    stars: int = 0
    note: str | None = None

    @property
    def ready(self) -> bool:
        return self.note is None

    def order(self, ids: Sequence[str]) -> list[str]:
        """``ids`` best first (stable: ties, and every id without a score, keep their order)."""
        return sorted(ids, key=lambda pid: -self.scores.get(pid, float("-inf")))


def _state_blocking(session: Session) -> tuple[tuple[str, ...], int]:
    stars = tuple(sorted(session.scalars(select(Star.paper_id))))
    return stars, current_generation(session)


def _training_texts_blocking(
    session: Session, stars: Sequence[str], negatives: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    starred = set(stars)
    texts = select(Paper.title, Paper.abstract)
    pos: list[tuple[str, str]] = []
    for start in range(0, len(stars), 500):  # bound the number of SQL parameters, as for the sample
        pos.extend((t, a) for t, a in session.execute(texts.where(Paper.id.in_(stars[start : start + 500]))))
    # ids first (the primary key's index), then the texts of those only: no sort of every abstract
    sample = [
        pid
        for pid in session.scalars(select(Paper.id).order_by(func.random()).limit(negatives + len(starred)))
        if pid not in starred
    ][:negatives]
    neg: list[tuple[str, str]] = []
    for start in range(0, len(sample), 500):
        chunk = sample[start : start + 500]
        neg.extend((t, a) for t, a in session.execute(texts.where(Paper.id.in_(chunk))))
    return pos, neg


def _train_blocking(pos: list[tuple[str, str]], neg: list[tuple[str, str]]) -> Model:
    started = time.perf_counter()
    model = train((paper_terms(t, a or "") for t, a in pos), (paper_terms(t, a or "") for t, a in neg))
    _LOGGER.info(
        "recommendations: trained on %d starred and %d other papers in %.2f s (%d words)",
        len(pos), len(neg), time.perf_counter() - started, len(model.vocabulary),
    )
    return model


def _score_blocking(model: Model, papers: Sequence[tuple[str, str, str]]) -> Ranking:
    scores, because = model.score([paper_terms(t, a) for _pid, t, a in papers])
    ids = [pid for pid, _t, _a in papers]
    return Ranking(
        scores={pid: float(s) for pid, s in zip(ids, scores, strict=True)},
        because=dict(zip(ids, because, strict=True)),
        stars=model.stars,
    )


class Recommender:
    """One cached model for this instance's stars, retrained lazily in a worker thread.

    A training is a task of its own that every request for the same stars awaits (shielded): a
    request that is cancelled, a reader leaving, neither stops it nor starts a second one.
    """

    def __init__(self, db: PaperReader, *, negatives: int = NEGATIVES, min_stars: int = MIN_STARS) -> None:
        self.db = db
        self.negatives = negatives
        self.min_stars = min_stars
        self._lock = asyncio.Lock()
        self._model: Model | None = None
        self._key: tuple[tuple[str, ...], int] | None = None
        self._trained_at = 0.0
        self._training: asyncio.Task[Model] | None = None
        self._training_key: tuple[tuple[str, ...], int] | None = None

    async def model(self) -> tuple[Model | None, int]:
        """The current model (None with fewer than ``min_stars`` stars) and the number of stars."""
        async with self._lock:
            stars, generation = await self.db.read(_state_blocking)
            if len(stars) < self.min_stars:
                return None, len(stars)
            key = (stars, generation)
            if self._model is not None and self._key is not None:
                same_stars = self._key[0] == stars
                fresh = time.monotonic() - self._trained_at < REFRESH_S
                if self._key == key or (same_stars and fresh):
                    return self._model, len(stars)
            if self._training is None or self._training_key is None or self._training_key[0] != stars:
                self._training_key = key
                self._training = asyncio.ensure_future(self._retrain(key))
                self._training.add_done_callback(_retrieve)
            training = self._training
        return await asyncio.shield(training), len(stars)

    async def _retrain(self, key: tuple[tuple[str, ...], int]) -> Model:
        stars = key[0]
        try:
            pos, neg = await self.db.read(lambda s: _training_texts_blocking(s, stars, self.negatives))
            model = await asyncio.to_thread(_train_blocking, pos, neg)
        except BaseException:
            if self._training_key == key:
                self._training = self._training_key = None  # the next request tries again
            raise
        if self._training_key == key:  # not overtaken by a training for other stars
            self._model, self._key, self._trained_at = model, key, time.monotonic()
            self._training = self._training_key = None
        return model

    async def rank(self, papers: Sequence[tuple[str, str, str]]) -> Ranking:
        """Scores and explanations for ``(id, title, abstract)`` triples, or a note saying why not."""
        model, stars = await self.model()
        if model is None:
            return Ranking(
                stars=stars,
                note=f"For you needs at least {self.min_stars} starred papers to learn from "
                f"(you have {stars}); showing arXiv's order. Star papers with ☆.",
            )
        return await asyncio.to_thread(_score_blocking, model, list(papers))


def _retrieve(task: asyncio.Task[Model]) -> None:
    """Read a training's outcome: a failure nobody awaits any more is logged once, not "never retrieved"."""
    if not task.cancelled() and task.exception() is not None:
        _LOGGER.error("recommendations: training failed", exc_info=task.exception())
