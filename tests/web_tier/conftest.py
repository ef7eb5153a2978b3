"""The web tier's tests start the real daemon the way tests/daemon does (its ``daemon_proc`` helper)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
