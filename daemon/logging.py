"""One logging setup for the daemon and the CLI (uvicorn's dictConfig idea).

Under systemd (``$JOURNAL_STREAM`` set) lines carry no timestamp: the journal adds one.
Library loggers that could be chatty or leak secrets stay at WARNING.
"""

from __future__ import annotations

import logging.config
import os

__all__ = ["setup_logging"]

# python-miio logs its own timeouts at ERROR; they reach us as DeviceError with the same text.
QUIET = {"mqtt": "WARNING", "aiomqtt": "WARNING", "miio": "CRITICAL", "apscheduler": "WARNING",
         "uvicorn.access": "WARNING", "httpx": "WARNING", "httpcore": "WARNING", "sqlalchemy": "WARNING",
         "alembic": "WARNING"}


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
            "loggers": {name: {"level": lvl} for name, lvl in QUIET.items()},
        }
    )
