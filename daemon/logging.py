"""One logging setup for the daemon and the CLI (uvicorn's dictConfig idea).

Under systemd (``$JOURNAL_STREAM`` set) lines carry no timestamp: the journal adds one.
Library loggers that could be chatty or leak secrets stay at WARNING.
"""

from __future__ import annotations

import logging.config
import os

__all__ = ["setup_logging"]

QUIET = ("mqtt", "aiomqtt", "miio", "apscheduler", "uvicorn.access", "httpx", "httpcore", "sqlalchemy", "alembic")


def setup_logging(level: str = "INFO") -> None:
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": fmt}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {name: {"level": "WARNING"} for name in QUIET},
        }
    )
