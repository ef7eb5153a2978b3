"""The stove HTTP API: auth, commands, bad input, body limits, OpenAPI — through the real app."""

from __future__ import annotations

import httpx
import pytest
from stove_rig import Rig


async def test_auth_required(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"},
                    {"Authorization": "Bearer " + "a" * 400}):
        r = await client.post("/api/stove/cut", json={"burner": "left"}, headers=headers)
        assert r.status_code == 401
    assert rig.relays["left"].history == [], "no relay moves without the token"
    log = await rig.stove.audit.recent()
    assert len(log) == 4
    assert all(e.action == "auth" and e.result == "rejected" for e in log)


async def test_cut_now_and_later(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    r = await client.post("/api/stove/cut", json={"burner": "left"})
    assert r.status_code == 200
    assert r.json()["ok"]
    assert rig.relays["left"].energised
    await rig.stove.wait_idle()
    r = await client.post("/api/stove/cut", json={"burner": "right", "delay_s": "10m"})
    assert r.status_code == 200
    st = (await client.get("/api/stove")).json()["burners"]["right"]
    assert st["deadline"] is not None
    assert 590 <= st["time_left_s"] <= 600
    r = await client.post("/api/stove/extend", json={"burner": "right", "by_s": 60})
    assert r.json()["ok"]
    r = await client.post("/api/stove/cancel", json={"burner": "right"})
    assert "right" in r.json()["detail"]
    log = (await client.get("/api/stove/log", params={"limit": 10})).json()
    assert [e["action"] for e in log][:3] == ["cancel", "extend", "cut_later"]
    assert all(e["source"] == "http" for e in log)


@pytest.mark.parametrize(
    "body",
    [
        {"burner": "oven"},
        {"burner": "left", "delay_s": -1},
        {"burner": "left", "delay_s": "soon"},
        {"burner": "left", "at": "99:99"},
        {"burner": "left", "delay_s": 60, "at": "23:00"},
        {"burner": "left", "action": "on"},
        {"burner": "x" * 100},
        {"burner": ["left"]},
    ],
)
async def test_bad_cut_requests(api: tuple[httpx.AsyncClient, Rig], body: dict) -> None:
    client, rig = api
    r = await client.post("/api/stove/cut", json=body)
    assert r.status_code == 422
    assert r.json()["detail"]
    assert all(not r.history for r in rig.relays.values()), "refused input never moves a relay"


async def test_malformed_and_oversized_bodies(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    r = await client.post(
        "/api/stove/cut", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/stove/cut", content=b"[" * 200_000, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    r = await client.post(
        "/api/stove/cut", content=b"\x00\xff" * 10, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert all(not r.history for r in rig.relays.values())
    log = (await client.get("/api/stove/log")).json()
    assert [e["result"] for e in log] == ["rejected"] * 3, "every refused request is audited"
    assert "413" not in log[1]["detail"]
    assert "over 65536 bytes" in log[1]["detail"]
    assert all(e["action"] == "cut" for e in log)


async def test_rejections_are_audited(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, _ = api
    await client.post("/api/stove/cut", json={"burner": "left", "delay_s": -3})
    log = (await client.get("/api/stove/log")).json()
    assert log[0]["result"] == "rejected"
    assert "positive" in log[0]["detail"]


async def test_schedules(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, _ = api
    r = await client.post("/api/stove/schedules", json={"burner": "all", "cron": "23:00"})
    assert r.status_code == 201
    sid = r.json()["id"]
    assert [s["id"] for s in (await client.get("/api/stove/schedules")).json()] == [sid]
    assert (await client.post("/api/stove/schedules", json={"cron": "nope"})).status_code == 422
    assert (await client.delete(f"/api/stove/schedules/{sid}")).status_code == 200
    assert (await client.delete(f"/api/stove/schedules/{sid}")).status_code == 404
    assert (await client.delete("/api/stove/schedules/" + "x" * 40)).status_code == 422


async def test_openapi_and_page(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, _ = api
    schema = (await client.get("/api/openapi.json")).json()
    assert {"/api/stove/cut", "/api/stove/cancel", "/api/stove/log", "/api/stove"} <= set(schema["paths"])
    assert (await client.get("/docs")).status_code == 404, "no CDN-loading docs UI"
    page = await client.get("/stove")
    assert page.status_code == 200
    assert "Nothing here can turn gas on" in page.text
    r = await client.get("/api/stove/log", params={"limit": 0})
    assert r.status_code == 422
