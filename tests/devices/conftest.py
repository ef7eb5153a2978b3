from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from stove_rig import Rig, make_cfg


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(make_cfg(tmp_path))
    await r.start()
    yield r
    await r.stop()
