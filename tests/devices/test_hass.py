"""Home Assistant's view of the stove (issue 12), against a real Mosquitto.

Each test reads what Home Assistant would read: the retained discovery configs
and the state messages on the broker, with every ``value_template`` rendered by
Jinja as Home Assistant renders it, so a template that shows a value Home
Assistant refuses (a number below its minimum, a valve "open" right after a
cut) fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from fakes.tasmota_peer import TasmotaPeer
from stove_rig import Rig, make_cfg
from test_mqtt_link import Watcher
from waiting import wait_for

import devices.stove
from core.config import Config, FlameConfig, MqttBurner, MqttConfig
from devices.audit import AuditLog
from devices.flame import FlameWatcher
from devices.hass import discovery_messages
from devices.mqtt_link import MqttLink
from devices.mqtt_relay import MqttRelay
from devices.relay import Relay
from devices.stove import Stove
from devices.timers import Timers

pytestmark = pytest.mark.mosquitto

_JINJA = jinja2.Environment(autoescape=False)  # noqa: S701 - renders MQTT payloads, not HTML


def render(conf: dict[str, Any], state: dict[str, Any]) -> str:
    """What Home Assistant makes of one state message for one entity (its templates strip the result)."""
    template = _JINJA.from_string(conf["value_template"])
    return template.render(value_json=state, value=json.dumps(state)).strip()


def config_of(cfg: Config, component: str, key: str) -> dict[str, Any]:
    burner = cfg.burners[0]
    for topic, payload in discovery_messages(cfg.mqtt, burner, cfg.flame):
        if topic.endswith(f"/{component}/coolstove_{burner.name}/{key}/config"):
            return json.loads(payload)  # type: ignore[no-any-return]
    raise KeyError((component, key))


def hass_cfg(tmp_path: Path, broker: Any, base: str, *, flame: bool) -> Config:
    cfg = make_cfg(tmp_path)
    update: dict[str, Any] = {"mqtt": MqttConfig(enabled=True, host=broker.host, port=broker.port,
                                                 base_topic=base, discovery_prefix=f"{base}-ha")}
    if flame:  # a flame input that only reports (no alert, no cut)
        update["flame"] = FlameConfig(topic=f"{base}/hood")
    return cfg.model_copy(update=update)


@contextlib.asynccontextmanager
async def daemon(cfg: Config, relays: dict[str, Relay] | None = None) -> AsyncIterator[tuple[Rig, MqttLink]]:
    """The stove, its timers and its MQTT link, as the daemon composes them (same data folder each time).

    ``relays`` replace the rig's simulated ones (a peer's driver).
    """
    rig = Rig(cfg)
    if relays:
        rig.stove = Stove(cfg, AuditLog(rig.db), relays={**rig.relays, **relays})
        rig.timers = Timers(rig.db, rig.stove)
    await rig.start()
    flame = FlameWatcher(cfg.flame, rig.stove) if cfg.flame.topic else None
    link = MqttLink(cfg, rig.stove, flame)
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.ready.wait(), 10)
        yield rig, link
    finally:
        await rig.stove.shutdown()
        await link.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await rig.timers.shutdown()
        rig.db.close()


def states(w: Watcher, base: str, burner: str = "left") -> list[dict[str, Any]]:
    return w.json_on(f"{base}/{burner}/state")  # type: ignore[no-any-return]


async def publish(w: Watcher, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
    await w.client.publish(topic, payload, qos=1, retain=retain)


# ---------------------------------------------------------------- discovery


EXPECTED_IDS = {
    "valve/coolstove_left/gas": "valve.stove_left_gas",
    "button/coolstove_left/cut": "button.stove_left_cut_gas_now",
    "button/coolstove_left/cancel": "button.stove_left_cancel_countdown",
    "number/coolstove_left/countdown": "number.stove_left_cut_in",
    "sensor/coolstove_left/cut_at": "sensor.stove_left_cut_at",
    "sensor/coolstove_left/last_cut": "sensor.stove_left_last_cut",
    "binary_sensor/coolstove_left/cut_owed": "binary_sensor.stove_left_cut_owed",
    "event/coolstove_left/alert": "event.stove_left_alert",
    "binary_sensor/coolstove_left/connectivity": "binary_sensor.stove_left_relay",
    "binary_sensor/coolstove_left/burning": "binary_sensor.stove_left_burning",
}


async def test_discovery_names_entities_with_default_entity_id_and_a_burning_sensor(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=True)
    prefix = f"{unique_topic}-ha"
    async with daemon(cfg), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{prefix}/+/+/+/config")
        await wait_for(lambda: len(w.messages) >= 2 * len(EXPECTED_IDS), timeout=5)  # retained
        configs = {str(m.topic)[len(prefix) + 1 : -len("/config")]: json.loads(m.payload) for m in w.messages}
    left = {k: v for k, v in configs.items() if "/coolstove_left/" in k}
    assert {k: c["default_entity_id"] for k, c in left.items()} == EXPECTED_IDS
    assert not [k for k, c in configs.items() if "object_id" in c], "object_id is deprecated in HA 2025.10"
    assert all(c["unique_id"] == f"coolstove_left_{k.rsplit('/', 1)[1]}" for k, c in left.items())
    number = left["number/coolstove_left/countdown"]
    assert (number["min"], number["max"], number["payload_reset"]) == (1, 7 * 24 * 60, "None")
    burning = configs["binary_sensor/coolstove_right/burning"]
    assert burning["device_class"] == "heat"
    assert burning["state_topic"] == f"{unique_topic}/right/state"
    valve = left["valve/coolstove_left/gas"]
    assert (valve["state_open"], valve["state_closed"], valve["payload_open"]) == ("open", "closed", None)
    cut_at = left["sensor/coolstove_left/cut_at"]
    assert cut_at["device_class"] == "timestamp"
    assert "unit_of_measurement" not in cut_at


async def test_retired_and_absent_entities_are_cleared_from_the_broker(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    """The old Time left sensor, and Burning without a flame input: their retained configs go."""
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=False)
    prefix = f"{unique_topic}-ha"
    stale = [f"{prefix}/sensor/coolstove_left/time_left/config",
             f"{prefix}/binary_sensor/coolstove_left/burning/config"]
    async with Watcher(broker.host, broker.port) as w:
        for topic in stale:
            await publish(w, topic, '{"name": "stale"}', retain=True)
    async with daemon(cfg), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{prefix}/+/+/+/config")
        n = len(discovery_messages(cfg.mqtt, cfg.burners[0], cfg.flame))
        await wait_for(lambda: len(w.messages) >= 2 * n, timeout=5)
        await asyncio.sleep(0.3)  # any stale retained config would have arrived with the others
        topics = {str(m.topic) for m in w.messages}
    assert len(topics) == 2 * n == 2 * 9
    assert not topics & set(stale), "the broker still holds a retired config"


# ---------------------------------------------------------------- the Cut in number and Cut at


async def test_cut_in_never_shows_a_value_below_its_minimum_and_cut_at_is_the_deadline(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=False)
    number, cut_at = config_of(cfg, "number", "countdown"), config_of(cfg, "sensor", "cut_at")
    base = unique_topic
    async with daemon(cfg) as (rig, _), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/left/state")
        await wait_for(lambda: states(w, base), timeout=5)
        assert render(number, states(w, base)[-1]) == "None" == number["payload_reset"]
        assert render(cut_at, states(w, base)[-1]) == "None"

        await publish(w, f"{base}/left/command", '{"action":"cut","delay_s":600}')
        await wait_for(lambda: states(w, base)[-1]["deadline"], timeout=5)
        state = states(w, base)[-1]
        assert render(number, state) == "10"
        assert dt.datetime.fromisoformat(render(cut_at, state)) == rig.timers.deadline("left")

        await publish(w, f"{base}/left/command", '{"action":"cancel"}')
        await wait_for(lambda: not states(w, base)[-1]["deadline"], timeout=5)
        assert render(number, states(w, base)[-1]) == "None", "no countdown left to show after cancel"
        assert render(cut_at, states(w, base)[-1]) == "None"

        await publish(w, f"{base}/left/command", '{"action":"cut","delay_s":1}')
        await wait_for(lambda: states(w, base)[-1]["deadline"], timeout=5)
        assert render(number, states(w, base)[-1]) == "1", "under a minute left is 1, never 0"
        await wait_for(lambda: rig.relays["left"].history, timeout=10)  # the countdown fired
        await rig.stove.wait_idle()
        await wait_for(lambda: states(w, base)[-1]["state"] == "armed" and states(w, base)[-1]["last_cut"],
                       timeout=5)
        for state in states(w, base):
            shown = render(number, state)
            assert shown == "None" or 1 <= int(shown) <= number["max"], state
        assert render(number, states(w, base)[-1]) == "None", "no countdown after the timer fired"


# ---------------------------------------------------------------- the valve and the flame input


async def test_valve_stays_closed_after_a_cut_until_the_flame_input_reports_a_relight(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=True)
    valve, burning = config_of(cfg, "valve", "gas"), config_of(cfg, "binary_sensor", "burning")
    base = unique_topic
    async with daemon(cfg) as (rig, _), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/left/state")
        await wait_for(lambda: states(w, base), timeout=5)
        assert render(valve, states(w, base)[-1]) == "open", "no cut yet"
        assert render(burning, states(w, base)[-1]) == "None", "the flame input has not spoken yet"

        await publish(w, f"{base}/hood", "ON")  # cooking: the hood says the stove burns
        await wait_for(lambda: states(w, base)[-1]["burning"] is True, timeout=5)
        assert render(burning, states(w, base)[-1]) == "ON"
        assert render(valve, states(w, base)[-1]) == "open"

        seen = len(states(w, base))
        await publish(w, f"{base}/left/command", '{"action":"cut"}')
        await wait_for(lambda: rig.relays["left"].history, timeout=5)
        await rig.stove.wait_idle()
        await wait_for(lambda: states(w, base)[-1]["state"] == "armed", timeout=5)
        await publish(w, f"{base}/hood", "ON")  # the hood still reports burning: no relight, no evidence
        await asyncio.sleep(0.3)
        after_cut = states(w, base)[seen:]
        assert [s["state"] for s in after_cut][:1] == ["cutting"]
        assert {render(valve, s) for s in after_cut} == {"closed"}, "open shown after a cut without a relight"
        assert rig.stove.status("left")["valve"] == "closed"

        await publish(w, f"{base}/hood", "OFF")
        await wait_for(lambda: states(w, base)[-1]["burning"] is False, timeout=5)
        assert render(burning, states(w, base)[-1]) == "OFF"
        assert render(valve, states(w, base)[-1]) == "closed"

        await publish(w, f"{base}/hood", "ON")  # relit by hand: the evidence
        await wait_for(lambda: states(w, base)[-1]["burning"] is True, timeout=5)
        assert render(valve, states(w, base)[-1]) == "open"
        assert render(valve, rig.stove.status("right")) == "open", "the other burner was never cut"
    coil = [on for _, on in rig.relays["left"].history]
    assert coil[:2] == [True, False], "one pulse, released"
    assert True not in coil[1:], "nothing energised the relay again"


async def test_valve_without_a_flame_input_is_closed_for_a_window_then_unknown(
    tmp_path: Path, broker: Any, unique_topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices.stove, "VALVE_CLOSED_AFTER_CUT_S", 1.5)
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=False)
    valve = config_of(cfg, "valve", "gas")
    base = unique_topic
    async with daemon(cfg) as (rig, _), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/left/state")
        await wait_for(lambda: states(w, base), timeout=5)
        seen = len(states(w, base))
        await publish(w, f"{base}/left/command", '{"action":"cut"}')
        await wait_for(lambda: rig.relays["left"].history, timeout=5)
        await rig.stove.wait_idle()
        await wait_for(lambda: states(w, base)[-1]["last_cut"], timeout=5)
        assert {render(valve, s) for s in states(w, base)[seen:]} == {"closed"}
        assert states(w, base)[-1]["burning"] is None
        # the window ends with no event of its own: the daemon publishes the state then
        await wait_for(lambda: states(w, base)[-1]["valve"] is None, timeout=5)
        assert render(valve, states(w, base)[-1]) == "None"


# ---------------------------------------------------------------- restart, retained commands


async def test_last_cut_and_closed_valve_survive_a_restart(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=True)
    last_cut, valve = config_of(cfg, "sensor", "last_cut"), config_of(cfg, "valve", "gas")
    base = unique_topic
    async with daemon(cfg) as (rig, _), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/left/result")
        await publish(w, f"{base}/left/command", '{"action":"cut"}')
        await wait_for(lambda: w.on(f"{base}/left/result"), timeout=5)
        await rig.stove.wait_idle()
        before = rig.stove.status("left")["last_cut"]
    assert before["result"] == "ok"
    async with daemon(cfg) as (rig, _), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/left/state")  # the retained state the restarted daemon published
        await wait_for(lambda: states(w, base), timeout=5)
        state = states(w, base)[-1]
        assert state["last_cut"]["source"] == "mqtt"
        assert state["last_cut"]["result"] == "ok"
        restored = dt.datetime.fromisoformat(render(last_cut, state))
        assert abs((restored - dt.datetime.fromisoformat(before["at"])).total_seconds()) < 0.5
        assert render(valve, state) == "closed", "no relight reported since the cut"
        assert rig.relays["left"].history == [], "restoring the last cut moves no relay"


async def test_clearing_a_retained_command_is_not_a_refused_command(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=False)
    base = unique_topic
    async with daemon(cfg) as (rig, link), Watcher(broker.host, broker.port) as w:
        await w.client.subscribe(f"{base}/left/result")
        await publish(w, f"{base}/left/command", '{"action":"cut"}', retain=True)  # a mistake...
        await wait_for(lambda: w.on(f"{base}/left/result"), timeout=5)
        await publish(w, f"{base}/left/command", b"", retain=True)  # ... cleared the standard way
        await publish(w, f"{base}/left/command", b"{not json")  # a marker behind it, in order
        await wait_for(lambda: len(w.on(f"{base}/left/result")) >= 2, timeout=5)
        await asyncio.sleep(0.2)
        errors = [r["error"] for r in w.json_on(f"{base}/left/result")]
        await wait_for(link.idle, timeout=5)
        rows = await rig.stove.audit.recent()
        assert link.stats["cleared"] == 1
        assert rig.relays["left"].history == []
    assert len(errors) == 2, errors
    assert "retained" in errors[0]
    assert "not valid JSON" in errors[1]
    assert [(e.result, e.detail) for e in rows] == [("rejected", errors[1]), ("rejected", errors[0])], \
        "the clear was audited as a refused command"


# ---------------------------------------------------------------- with a peer relay


async def test_home_assistant_close_on_a_tasmota_peer_keeps_the_valve_closed_across_a_restart(
    tmp_path: Path, broker: Any, unique_topic: str
) -> None:
    """The valve's own close payload, a real MQTT relay (the Tasmota peer), a restart: closed, restored."""
    cfg = hass_cfg(tmp_path, broker, unique_topic, flame=True)
    valve, last_cut = config_of(cfg, "valve", "gas"), config_of(cfg, "sensor", "last_cut")
    base = unique_topic
    device = MqttBurner(name="left", flavour="tasmota", command_topic=f"{base}-tasmota", timeout_s=1.0)
    async with TasmotaPeer(broker.host, broker.port, f"{base}-tasmota") as peer:
        relay = MqttRelay(device, cfg.mqtt)
        async with daemon(cfg, {"left": relay}) as (rig, _), Watcher(broker.host, broker.port) as w:
            await w.client.subscribe(f"{base}/left/state")
            await wait_for(lambda: states(w, base), timeout=5)
            assert render(valve, states(w, base)[-1]) == "open"
            seen = len(states(w, base))
            await publish(w, valve["command_topic"], valve["payload_close"])  # what HA sends on close
            await wait_for(lambda: peer.power[1], timeout=5)
            await rig.stove.wait_idle()
            await wait_for(lambda: states(w, base)[-1]["last_cut"], timeout=5)
            assert peer.power[1] is False, "the pulse ended: the relay rests"
            assert {render(valve, s) for s in states(w, base)[seen:]} == {"closed"}
            at = render(last_cut, states(w, base)[-1])
        async with daemon(cfg, {"left": MqttRelay(device, cfg.mqtt)}) as (rig, _), \
                Watcher(broker.host, broker.port) as w:
            await w.client.subscribe(f"{base}/left/state")
            await wait_for(lambda: states(w, base), timeout=5)
            state = states(w, base)[-1]
            assert render(valve, state) == "closed"
            assert abs((dt.datetime.fromisoformat(render(last_cut, state))
                        - dt.datetime.fromisoformat(at)).total_seconds()) < 0.5
        assert [c.value for c in peer.changes("POWER1")] == [False, True, False], "one pulse, nothing more"
