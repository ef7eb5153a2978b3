from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from stove_rig import Rig, api_client, make_cfg


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(make_cfg(tmp_path))
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def api(rig: Rig) -> AsyncIterator[tuple[httpx.AsyncClient, Rig]]:
    """The stove API on a rig, authorised."""
    async with api_client(rig) as client:
        yield client, rig
