"""Schedules over HTTP: what the checker accepts is what runs; everything else is a 422 and an audit row."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from stove_rig import Rig


@pytest.mark.parametrize(
    "cron", ["* * 7", "0 23 * * 7x", "0 23 L * *", "0 23 * * 5#3", "0 0 31 2 *", "@reboot"]
)
async def test_a_schedule_that_cannot_run_is_a_422_and_audited(
    api: tuple[httpx.AsyncClient, Rig], cron: str
) -> None:
    client, rig = api
    r = await client.post("/api/stove/schedules", json={"burner": "all", "cron": cron})
    assert r.status_code == 422, r.text  # was a 500 for "* * 7", "L" and "5#3"
    assert (await client.get("/api/stove/schedules")).json() == []
    log = await rig.stove.audit.recent()
    assert log[0].action == "schedule_add"
    assert log[0].result == "rejected"


async def test_weekday_schedule_next_is_a_weekday(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    r = await client.post("/api/stove/schedules", json={"burner": "left", "cron": "0 23 * * 1-5"})
    assert r.status_code == 201
    listed = (await client.get("/api/stove/schedules")).json()
    assert [s["cron"] for s in listed] == ["0 23 * * 1-5"]
    nxt = dt.datetime.fromisoformat(listed[0]["next"]).astimezone(rig.timers.zone)
    assert nxt.weekday() < 5
    assert (nxt.hour, nxt.minute) == (23, 0)
    sid = listed[0]["id"]
    assert (await client.delete(f"/api/stove/schedules/{sid}")).status_code == 200
    assert (await client.delete(f"/api/stove/schedules/{sid}")).status_code == 404
    log = await rig.stove.audit.recent()
    assert (log[0].action, log[0].result) == ("schedule_remove", "rejected"), "a refusal is audited"
