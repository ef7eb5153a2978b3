"""Helpers shared by the feed tests (their own module: ``conftest`` is not a unique module name)."""

from __future__ import annotations

from pathlib import Path

from arxiv_replay import ReplayServer

from core.config import Config, PapersConfig, StorageConfig


def make_config(replay: ReplayServer, data_dir: Path, db_url: str | None = None, **papers: object) -> Config:
    base = PapersConfig(
        categories=("cs.LG",),
        database_url=db_url,
        rss_url=replay.url("/atom/{category}"),
        api_url=replay.url("/api/query"),
        oai_url=replay.url("/oai"),
        timeout_s=2.0,
        max_retries=3,
    )
    # model_copy skips validation: test-speed polling (below the config's 60 s) and per-test keys
    papers = {"poll_interval_s": 0.05, **papers}
    return Config(storage=StorageConfig(data_dir=data_dir), papers=base.model_copy(update=papers))
