"""Home Assistant MQTT discovery for each burner: how voice assistants reach the stove.

A close-only gas ``valve`` (``payload_open`` is null: Home Assistant offers no
way to open it), buttons to cut and cancel, a ``number`` that starts a
countdown, a ``timestamp`` sensor with the countdown's deadline (Home Assistant
counts it down itself, so nothing is published every second) and one with the
last cut, a *cut owed* problem sensor, an event entity (``cut_failed`` and the
flame alerts), a connectivity binary sensor and, when a flame input covers the
burner, a *burning* binary sensor (device class ``heat``) for automations such
as starting the range hood. Every command goes to the same JSON command topic
the daemon already validates, so discovery adds no second command path.

Entity ids: ``default_entity_id`` (``object_id`` is deprecated since Home
Assistant 2025.10 and ignored from 2026.4) is the id Home Assistant derives
from the device and entity names anyway (``number.stove_left_cut_in``), so the
ids are the same whether an older Home Assistant ignores it or a newer one
reads it. Ids already in Home Assistant's entity registry stay as they are.

Templates only pick fields the daemon computed (``valve``, ``cut_in_min``,
``burning``, ...); when there is nothing to show they give ``None``, the
payload every MQTT platform used here takes as "unknown" (the number's
``payload_reset``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.config import Burner, FlameConfig, MqttConfig
from devices.commands import MAX_DELAY_S

__all__ = ["RETIRED", "discovery_messages", "entity_id", "retired_configs"]

#: The "Cut in" number's range ends where a countdown's does (a week).
CUT_IN_MAX_MIN = MAX_DELAY_S // 60


def _topics(mqtt: MqttConfig, burner: str) -> tuple[str, str]:
    return f"{mqtt.base_topic}/{burner}/command", f"{mqtt.base_topic}/{burner}/state"


def _slug(text: str) -> str:
    """Home Assistant's entity id slug: lower case, runs of other characters become one ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def entity_id(component: str, burner: str, name: str) -> str:
    """The entity id Home Assistant gives an entity ``name`` of the device ``Stove <burner>``."""
    return f"{component}.{_slug(f'Stove {burner} {name}')}"


#: Entities earlier versions announced and this one does not: their configs are cleared.
RETIRED = (("sensor", "time_left"),)  # a duration that only changed on events: "Cut at" replaced it
_BURNING = ("binary_sensor", "burning")


def discovery_messages(
    mqtt: MqttConfig, burner: Burner, flame: FlameConfig | None = None
) -> list[tuple[str, str]]:
    """(topic, JSON payload) pairs to publish retained for one burner."""
    b = burner.name
    cmd, state = _topics(mqtt, b)
    uid = _uid(burner)
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
            "state_open": "open",
            "state_closed": "closed",
            "value_template": "{{ value_json.valve if value_json.valve else 'None' }}",
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
            "value_template": "{{ value_json.cut_in_min if value_json.cut_in_min else 'None' }}",
            "payload_reset": "None",
            "min": 1,
            "max": CUT_IN_MAX_MIN,
            "step": 1,
            "mode": "box",
            "unit_of_measurement": "min",
            "icon": "mdi:timer-sand",
        }),
        ("sensor", "cut_at", {
            "name": "Cut at",
            "state_topic": state,
            "value_template": "{{ value_json.deadline if value_json.deadline else 'None' }}",
            "device_class": "timestamp",
            "icon": "mdi:timer-outline",
        }),
        ("sensor", "last_cut", {
            "name": "Last cut",
            "state_topic": state,
            "value_template": "{{ value_json.last_cut.at if value_json.last_cut else 'None' }}",
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
    if flame is not None and flame.topic and flame.burner in (None, "all", b):
        entities.append(("binary_sensor", "burning", {
            "name": "Burning",
            "state_topic": state,
            "value_template": "{{ 'None' if value_json.burning is none else "
                              "('ON' if value_json.burning else 'OFF') }}",
            "device_class": "heat",
            "icon": "mdi:fire",
        }))
    out = []
    for component, key, conf in entities:
        payload = {**common, **conf, "unique_id": f"{uid}_{key}",
                   "default_entity_id": entity_id(component, b, conf["name"])}
        out.append((_config_topic(mqtt, component, uid, key), json.dumps(payload)))
    return out


def retired_configs(mqtt: MqttConfig, burner: Burner, flame: FlameConfig | None = None) -> list[str]:
    """Config topics of entities this burner does not have (any more): publish them empty and retained.

    Home Assistant then removes the entity and the broker forgets the retained
    config: the retired ``time_left`` sensor, and *burning* without a flame input.
    """
    announced = {topic for topic, _ in discovery_messages(mqtt, burner, flame)}
    uid = _uid(burner)
    topics = [_config_topic(mqtt, component, uid, key) for component, key in (*RETIRED, _BURNING)]
    return [t for t in topics if t not in announced]


def _uid(burner: Burner) -> str:
    return f"coolstove_{burner.name}".replace("-", "_")


def _config_topic(mqtt: MqttConfig, component: str, uid: str, key: str) -> str:
    return f"{mqtt.discovery_prefix}/{component}/{uid}/{key}/config"
