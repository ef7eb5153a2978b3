"""The stove API takes JSON as sent and refuses the rest — every refusal a JSON reply and an audit row.

Through the real app behind the daemon's guard (httpx's ASGI transport).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from stove_rig import Rig


async def audit(rig: Rig) -> list[dict]:
    return [e.as_dict() for e in await rig.stove.audit.recent(100)]


def untouched(rig: Rig) -> bool:
    return all(not r.history for r in rig.relays.values())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/stove/cut", {"burner": "left", "delay_s": True}),  # was taken as 1 s
        ("/api/stove/cut", {"burner": "left", "delay_s": None}),  # was "cut now"
        ("/api/stove/cut", {"burner": "left", "at": None}),
        ("/api/stove/cut", {"burner": None}),
        ("/api/stove/cut", {"burner": 1}),
        ("/api/stove/cut", {"burner": "left", "delay_s": False}),
        ("/api/stove/cut", {"burner": "left", "delay_s": [60]}),
        ("/api/stove/cut", {"burner": "left", "delay_s": {"s": 60}}),
        ("/api/stove/extend", {"burner": "left", "by_s": True}),
        ("/api/stove/extend", {"burner": "left", "by_s": None}),
        ("/api/stove/cancel", {"burner": True}),
        ("/api/stove/schedules", {"burner": "all", "cron": 23}),
    ],
)
async def test_no_bool_as_number_no_null_no_coercion(
    api: tuple[httpx.AsyncClient, Rig], path: str, body: dict
) -> None:
    client, rig = api
    r = await client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    assert untouched(rig), "refused input never moves a relay"
    log = await audit(rig)
    assert [e["result"] for e in log] == ["rejected"], log
    assert (await client.get("/api/stove")).json()["burners"]["left"]["deadline"] is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"burner": "\\ud800"}',
        b'{"burner": "left", "at": "\\udfff"}',
        b'{"burner": "left", "delay_s": NaN}',
        b'{"burner": "left", "delay_s": Infinity}',
        b'{"\\ud800": 1}',
    ],
)
async def test_surrogates_and_non_finite_numbers_are_422_not_500(
    api: tuple[httpx.AsyncClient, Rig], raw: bytes
) -> None:
    client, rig = api
    r = await client.post("/api/stove/cut", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    r.json()  # a JSON reply, encodable
    assert untouched(rig)
    log = await audit(rig)
    assert [e["result"] for e in log] == ["rejected"]
    log[0]["detail"].encode("utf-8")


async def test_a_body_the_parser_chokes_on_is_400_and_audited(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    r = await client.post(
        "/api/stove/cut", content=b"[" * 60_000, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["detail"]
    log = await audit(rig)
    assert [(e["action"], e["result"]) for e in log] == [("cut", "rejected")]
    assert untouched(rig)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/stove/cut"), ("POST", "/api/stove/cancel"), ("POST", "/api/stove/extend"),
     ("POST", "/api/stove/schedules"), ("DELETE", "/api/stove/schedules/abc"), ("GET", "/api/stove"),
     ("POST", "/api/stove/nowhere")],
)
async def test_an_oversized_chunked_body_is_413_on_every_route(
    api: tuple[httpx.AsyncClient, Rig], method: str, path: str
) -> None:
    client, rig = api

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"burner": "left", "x": "'
        for _ in range(80):
            yield b"a" * 1024
        yield b'"}'

    r = await client.request(method, path, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "over 65536 bytes" in r.json()["detail"]
    assert r.headers["connection"] == "close"
    log = await audit(rig)
    assert [e["result"] for e in log] == ["rejected"]
    assert untouched(rig)


@pytest.mark.parametrize("path", ["/api/stove/cut", "/api/stove/cancel", "/api/stove/extend",
                                  "/api/stove/schedules"])
async def test_a_command_past_its_deadline_is_refused_with_408(
    api: tuple[httpx.AsyncClient, Rig], path: str
) -> None:
    """The client gave up waiting (its deadline passed before the handler ran): never executed later."""
    client, rig = api
    body = {"burner": "left", "by_s": 60} if path.endswith("extend") else (
        {"burner": "all", "cron": "23:00"} if path.endswith("schedules") else {"burner": "left"})
    r = await client.post(path, json=body, headers={"X-Coolstove-Deadline": f"{time.time() - 1:.3f}"})
    assert r.status_code == 408, r.text
    assert "stale" in r.json()["detail"]
    assert untouched(rig)
    assert (await client.get("/api/stove/schedules")).json() == []
    log = await audit(rig)
    assert len(log) == 1
    assert log[0]["result"] == "rejected"
    assert "stale" in log[0]["detail"]


async def test_a_command_within_its_deadline_runs_and_a_bad_deadline_is_400(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, rig = api
    for bad in ("soon", "nan", "inf"):
        r = await client.post(
            "/api/stove/cut", json={"burner": "left"}, headers={"X-Coolstove-Deadline": bad}
        )
        assert r.status_code == 400
        assert r.json()["detail"]
    assert untouched(rig)
    assert [e["result"] for e in await audit(rig)] == ["rejected"] * 3
    r = await client.post("/api/stove/cut", json={"burner": "left"},
                          headers={"X-Coolstove-Deadline": f"{time.time() + 60:.3f}"})
    assert r.status_code == 200
    assert r.json()["ok"]
    assert rig.relays["left"].energised
    await rig.stove.wait_idle()


async def test_every_refusal_is_json_and_audited(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    replies = [
        await client.post("/api/stove/cut", json={"burner": "left"}, headers={"Authorization": "Bearer no"}),
        await client.post("/api/stove/cut", json={"burner": "oven"}),
        await client.post("/api/stove/cut", content=b"{", headers={"Content-Type": "application/json"}),
        await client.post("/api/stove/cut", json={"burner": "left"}, headers={"Host": "evil.example"}),
    ]
    assert [r.status_code for r in replies] == [401, 422, 422, 400]
    for r in replies:
        assert r.headers["content-type"].startswith("application/json")
        assert json.loads(r.text)["detail"]
    log = await audit(rig)
    assert len(log) == 4
    assert all(e["result"] == "rejected" for e in log)
    assert untouched(rig)
