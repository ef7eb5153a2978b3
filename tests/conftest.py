"""Shared fixtures: real services on loopback, unique MQTT topics, the shared/ folder."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

# All of python-miio before any project module: devices.miio_link, imported first, registers only
# the protocol modules (the daemon's memory saving), and the fakes need `from miio import Device`.
import miio  # noqa: F401
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from services import Broker, run_mosquitto, run_postgres  # noqa: E402

SHARED = ROOT.parent / "shared"

# The same examples on every run, so CI never fails on a draw it has not seen before;
# HYPOTHESIS_PROFILE=explore searches afresh (with the example database) when hunting bugs.
settings.register_profile("ci", derandomize=True, deadline=None, database=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """A real Mosquitto on a free loopback port for the whole session."""
    with run_mosquitto() as b:
        yield b


@pytest.fixture
def fresh_broker() -> Iterator[Broker]:
    """A broker of one's own, for tests that stop and restart it."""
    with run_mosquitto() as b:
        yield b


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with run_postgres() as url:
        yield url


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic prefix no other test uses (aiomqtt's idea)."""
    return f"t-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    return SHARED
