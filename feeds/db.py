"""The paper database handle: the daemon's one-writer-thread ``Database`` (see ``daemon/database.py``)."""

from daemon.database import Database, make_engine

__all__ = ["Database", "make_engine"]
