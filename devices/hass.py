"""Home Assistant MQTT discovery for each burner: how voice assistants reach the stove.

A close-only gas ``valve`` (``payload_open`` is null: Home Assistant offers no
way to open it), buttons to cut and cancel, a ``number`` that starts a
countdown, sensors for time left and last cut, a *cut owed* problem sensor and an
event entity (``cut_failed`` and the flame alerts), and a connectivity binary
sensor. Every command goes to the same JSON command topic the daemon already
validates, so discovery adds no second command path.
"""

from __future__ import annotations

import json
from typing import Any

from core.config import Burner, MqttConfig

__all__ = ["discovery_messages"]


def _topics(mqtt: MqttConfig, burner: str) -> tuple[str, str]:
    return f"{mqtt.base_topic}/{burner}/command", f"{mqtt.base_topic}/{burner}/state"


def discovery_messages(mqtt: MqttConfig, burner: Burner) -> list[tuple[str, str]]:
    """(topic, JSON payload) pairs to publish retained for one burner."""
    b = burner.name
    cmd, state = _topics(mqtt, b)
    uid = f"coolstove_{b}".replace("-", "_")
    device = {
        "identifiers": [uid],
        "name": f"Stove {b}",
        "manufacturer": "coolstove",
        "model": f"flame-failure relay ({burner.driver})",
    }
    common: dict[str, Any] = {
        "device": device,
        "availability": [{"topic": f"{mqtt.base_topic}/status"}],
        "origin": {"name": "coolstove"},
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("valve", "gas", {
            "name": "Gas",
            "device_class": "gas",
            "command_topic": cmd,
            "payload_open": None,
            "payload_stop": None,
            "payload_close": json.dumps({"action": "cut"}),
            "state_topic": state,
            "value_template": "{{ 'closed' if value_json.state == 'cutting' else 'open' }}",
            "reports_position": False,
            "optimistic": False,
            "icon": "mdi:stove",
        }),
        ("button", "cut", {
            "name": "Cut gas now",
            "command_topic": cmd,
            "payload_press": json.dumps({"action": "cut"}),
            "icon": "mdi:fire-off",
        }),
        ("button", "cancel", {
            "name": "Cancel countdown",
            "command_topic": cmd,
            "payload_press": json.dumps({"action": "cancel"}),
            "icon": "mdi:timer-off",
        }),
        ("number", "countdown", {
            "name": "Cut in",
            "command_topic": cmd,
            "command_template": '{"action":"cut","delay_s":{{ (value * 60) | int }}}',
            "state_topic": state,
            "value_template": "{{ ((value_json.time_left_s or 0) / 60) | round(0) | int }}",
            "min": 1,
            "max": 240,
            "step": 1,
            "mode": "box",
            "unit_of_measurement": "min",
            "icon": "mdi:timer-sand",
        }),
        ("sensor", "time_left", {
            "name": "Time left",
            "state_topic": state,
            "value_template": "{{ value_json.time_left_s or 0 }}",
            "device_class": "duration",
            "unit_of_measurement": "s",
        }),
        ("sensor", "last_cut", {
            "name": "Last cut",
            "state_topic": state,
            "value_template": "{{ value_json.last_cut.at if value_json.last_cut else None }}",
            "device_class": "timestamp",
        }),
        ("binary_sensor", "cut_owed", {
            "name": "Cut owed",
            "state_topic": state,
            "value_template": "{{ 'ON' if value_json.owed else 'OFF' }}",
            "device_class": "problem",
        }),
        ("event", "alert", {
            "name": "Alert",
            "state_topic": f"{mqtt.base_topic}/{b}/event",
            "event_types": ["cut_failed", "burning_long", "cut_after_burning"],
            "icon": "mdi:alert",
        }),
        ("binary_sensor", "connectivity", {
            "name": "Relay",
            "state_topic": state,
            "value_template": "{{ 'ON' if value_json.reachable else 'OFF' }}",
            "device_class": "connectivity",
            "entity_category": "diagnostic",
        }),
    ]
    out = []
    for component, key, conf in entities:
        payload = {**common, **conf, "unique_id": f"{uid}_{key}", "object_id": f"{uid}_{key}"}
        out.append((f"{mqtt.discovery_prefix}/{component}/{uid}/{key}/config", json.dumps(payload)))
    return out
