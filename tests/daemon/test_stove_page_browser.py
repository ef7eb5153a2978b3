"""The stove control page in a real headless Chromium against the real daemon process."""

from __future__ import annotations

from pathlib import Path

import pytest
from chromium import ARGS, BROWSER, CHROMIUM, SHOTS
from daemon_proc import DaemonProc, status
from waiting import wait_for_sync

pytestmark = [*BROWSER, pytest.mark.slow]

CONFIG = """
[[stove.burners]]
name = "left"
pulse_s = 2

[[stove.burners]]
name = "right"
pulse_s = 2
"""


def test_control_page_asks_for_the_token_then_cuts_and_schedules(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    d = DaemonProc(tmp_path, CONFIG)
    SHOTS.mkdir(exist_ok=True)
    try:
        d.start()
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True
            )
            try:
                page = ctx.new_page()
                page.goto(f"http://127.0.0.1:{d.port}/stove")
                page.wait_for_selector("#tokenbox:not([hidden])")  # no token yet: the API said 401
                assert page.locator(".burner").count() == 0
                page.fill("#token", "wrong")
                page.click("#save")
                page.wait_for_selector("#tokenbox:not([hidden])")
                page.fill("#token", d.token)
                page.click("#save")
                page.wait_for_selector(".burner >> nth=1")
                assert "left — armed" in page.inner_text("#burners")
                page.locator(".burner", has_text="left").get_by_role("button", name="Cut now").click()
                page.wait_for_selector(".burner.cutting")
                assert status(d, "left")["state"] == "cutting"
                assert status(d, "right")["state"] == "armed"
                page.screenshot(path=str(SHOTS / "stove-cutting.png"), full_page=True)
                page.locator(".burner", has_text="right").get_by_role("button", name="In 10 min").click()
                wait_for_sync(lambda: status(d, "right")["deadline"] is not None, 10)
                page.fill("#cron", "23:00")
                page.click("#addsched")
                page.wait_for_selector("#schedules li")
                assert "0 23 * * *" in page.inner_text("#schedules")
                wait_for_sync(lambda: status(d, "left")["state"] == "armed", 15)
                # the page refreshes itself; the cut's audit entry lands when the pulse is over
                page.wait_for_selector("#log li:has-text('cut left: ok')", timeout=15000)
                assert "left — armed" in page.inner_text("#burners")
                page.screenshot(path=str(SHOTS / "stove-page.png"), full_page=True)
            finally:
                ctx.close()
        log = d.api("GET", "/api/stove/log").json()
        assert [e["source"] for e in log if e["action"] == "cut"] == ["http"]
    finally:
        d.stop()


def test_without_a_token_the_page_asks_and_does_not_poll(tmp_path: Path) -> None:
    """An open /stove tab without a (valid) token sends nothing more: no stream of audited 401s."""
    from playwright.sync_api import sync_playwright

    d = DaemonProc(tmp_path, CONFIG)
    try:
        d.start()
        api_calls: list[str] = []
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True
            )
            try:
                page = ctx.new_page()
                page.clock.install()  # the page's timers run on a clock the test moves
                page.on("request", lambda r: api_calls.append(r.url) if "/api/stove" in r.url else None)
                page.goto(f"{d.base}/stove")
                page.wait_for_selector("#tokenbox:not([hidden])")
                page.clock.run_for(60_000)  # a minute of an open tab
                page.evaluate("() => new Promise((ok) => setTimeout(ok, 0))")
                assert api_calls == [], "no token: the page asks for one and sends nothing"

                page.fill("#token", "wrong")
                page.click("#save")
                page.wait_for_selector("#tokenbox:not([hidden])")  # the 401 asks again ...
                page.clock.run_for(60_000)
                page.evaluate("() => new Promise((ok) => setTimeout(ok, 0))")
                assert len(api_calls) == 1, api_calls  # ... and stops polling
            finally:
                ctx.close()
        refused = [e for e in d.api("GET", "/api/stove/log").json() if e["action"] == "auth"]
        assert len(refused) == 1, refused
    finally:
        d.stop()
