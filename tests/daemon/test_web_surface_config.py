"""``[http]``: two listeners, allowed Host names, limits — and what is refused at load time."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.errors import ConfigError


def test_defaults_are_two_loopback_origins() -> None:
    http = load_config(env={}).http
    assert (http.host, http.port, http.pages_host, http.pages_port) == ("127.0.0.1", 8470, "127.0.0.1", 8471)
    assert http.pages_enabled
    assert http.pages_base_url == "http://127.0.0.1:8471"
    assert http.hosts == {"localhost", "127.0.0.1", "::1"}


@pytest.mark.parametrize("off", ["", "off", "OFF"])
def test_the_pages_listener_can_be_turned_off(off: str) -> None:
    assert not load_config(env={"COOLSTOVE_HTTP__PAGES_LISTEN": off}).http.pages_enabled


def test_allowed_hosts_keep_the_clis_own_address() -> None:
    http = load_config(env={"COOLSTOVE_HTTP__LISTEN": "0.0.0.0:8470",
                            "COOLSTOVE_HTTP__ALLOWED_HOSTS": "Stove.LAN., 192.168.1.5"}).http
    assert {"stove.lan", "192.168.1.5", "127.0.0.1"} <= http.hosts
    assert "localhost" not in http.hosts  # a configured list replaces the default names


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COOLSTOVE_HTTP__PAGES_LISTEN": "127.0.0.1:8470"}, "must differ"),
        ({"COOLSTOVE_HTTP__PAGES_LISTEN": "8471"}, "pages_listen: must be HOST:PORT"),
        ({"COOLSTOVE_HTTP__PAGES_LISTEN": "127.0.0.1:99999"}, "0..65535"),
        ({"COOLSTOVE_HTTP__LISTEN": "nowhere"}, "listen: must be HOST:PORT"),
        ({"COOLSTOVE_HTTP__ALLOWED_HOSTS": "evil.example/x"}, "allowed_hosts"),
        ({"COOLSTOVE_HTTP__MAX_CONNECTIONS": "0"}, "max_connections"),
        ({"COOLSTOVE_HTTP__HEADER_TIMEOUT_S": "0"}, "header_timeout_s"),
        ({"COOLSTOVE_HTTP__CLIENT_TIMEOUT_S": "1e9"}, "client_timeout_s"),
    ],
)
def test_bad_http_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)
