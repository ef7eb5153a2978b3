"""No web page can reach the stove: the attacks of issue 8, replayed in a real headless Chromium.

The daemon runs as a subprocess with its paper pages on; a paper whose licence
is a ``javascript:`` URL (and one with a ``data:`` URL) is put into its database,
as an import would. The stove token is saved in the browser the way a person
does, through the control page.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import ARGS, BROWSER, CHROMIUM
from daemon_proc import DaemonProc, status
from services import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
from search_data import make_paper

pytestmark = [*BROWSER, pytest.mark.slow]

CONFIG = """
[[stove.burners]]
name = "left"
pulse_s = 2
"""
EVIL_ID = "2401.09001"
DATA_ID = "2401.09002"


def steal(port: int) -> str:
    """What the imported licence link did: read the token, cut the gas through the API."""
    call = ("{method:'POST',headers:{'Authorization':'Bearer '+localStorage.getItem('coolstove-token'),"
            "'Content-Type':'application/json'},body:JSON.stringify({burner:'left'})}")
    return (f"javascript:document.title='pwned';fetch('/api/stove/cut',{call});"
            f"fetch('http://127.0.0.1:{port}/api/stove/cut',{call});void 0")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:
    from core.database import Database
    from feeds.migrate import upgrade

    work = tmp_path_factory.mktemp("surface")
    nowhere = f"http://127.0.0.1:{free_port()}"  # arXiv is not needed: the papers are in the database
    d = DaemonProc(work, CONFIG, {
        "COOLSTOVE_PAPERS__ENABLED": "true",
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_PAPERS__RSS_URL": nowhere + "/atom/{category}",
        "COOLSTOVE_PAPERS__API_URL": nowhere + "/api/query",
        "COOLSTOVE_PAPERS__OAI_URL": nowhere + "/oai",
        "COOLSTOVE_PAPERS__TIMEOUT_S": "2",
    })
    (work / "data").mkdir()
    url = f"sqlite:///{(work / 'data' / 'papers.db').resolve()}"
    upgrade(url)
    db = Database(url)
    db.start()
    try:
        def add(session: object) -> None:
            for pid, licence in (
                (EVIL_ID, steal(d.port)),
                (DATA_ID, "data:text/html,<script>alert(1)</script>"),
            ):
                session.add(make_paper(id=pid, title=f"A paper {pid}", abstract="An abstract.",  # type: ignore[attr-defined]
                                       authors=["Ann Author"], categories="cs.LG", license=licence))
        db.write_blocking(add)
    finally:
        db.close()
    try:
        d.start()
        yield d
    finally:
        d.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=[*ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"],
        )
        try:
            yield ctx
        finally:
            ctx.close()


def no_cut(d: DaemonProc) -> bool:
    log = d.api("GET", "/api/stove/log?limit=200").json()
    return not [e for e in log if e["action"].startswith("cut")] and status(d, "left")["last_cut"] is None


def save_token(ctx: object, d: DaemonProc) -> None:
    page = ctx.new_page()  # type: ignore[attr-defined]
    page.goto(f"{d.base}/stove")
    page.fill("#token", d.token)
    page.click("#save")
    page.wait_for_selector(".burner")
    page.close()


def test_a_javascript_licence_from_imported_data_is_not_a_link_and_reaches_nothing(daemon: DaemonProc,
                                                                                 browser: object) -> None:
    d, ctx = daemon, browser
    save_token(ctx, d)
    page = ctx.new_page()  # type: ignore[attr-defined]
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    dialogs: list[str] = []
    page.on("dialog", lambda dlg: (dialogs.append(dlg.message), dlg.dismiss()))
    for pid in (EVIL_ID, DATA_ID):
        page.goto(f"{d.pages_base}/arxiv/{pid}")
        licence = page.locator("dd.licence")
        assert licence.locator("a").count() == 0, "a URL that is not http(s) is shown, not linked"
        assert licence.inner_text().startswith(("javascript:", "data:"))
        licence.click()
        # the http(s) links are still links
        assert page.locator("a.title-pdf").get_attribute("data-pdf") == f"https://arxiv.org/pdf/{pid}"
        assert page.locator("a.title-pdf").get_attribute("href") == f"/go/pdf/{pid}"  # counts, then arXiv
    page.evaluate("() => new Promise((ok) => setTimeout(ok, 0))")
    assert page.title() != "pwned"
    assert dialogs == []
    assert not [u for u in seen if "/api/stove" in u], seen
    assert no_cut(d)


def test_the_token_is_not_readable_from_the_pages_origin_nor_usable_from_it(daemon: DaemonProc,
                                                                          browser: object) -> None:
    d, ctx = daemon, browser
    save_token(ctx, d)
    page = ctx.new_page()  # type: ignore[attr-defined]
    page.goto(f"{d.pages_base}/arxiv/{EVIL_ID}")
    assert page.evaluate("() => localStorage.getItem('coolstove-token')") is None
    # even a script that knows the token cannot call the API from there: no CORS, CSP connect-src 'self'
    outcome = page.evaluate(
        """async ([url, token]) => {
             try {
               await fetch(url, {method: "POST", body: JSON.stringify({burner: "left"}),
                                 headers: {"Authorization": "Bearer " + token,
                                           "Content-Type": "application/json"}});
               return "sent";
             } catch (e) { return "blocked"; }
           }""",
        [f"{d.base}/api/stove/cut", d.token],
    )
    assert outcome == "blocked"
    # the paper pages are not on the stove's origin, and the stove is not on theirs
    assert page.goto(f"{d.pages_base}/stove").status == 404  # type: ignore[union-attr]
    assert f"{d.base}/stove" in page.content()
    assert no_cut(d)


def test_the_control_page_cannot_be_framed(daemon: DaemonProc, browser: object) -> None:
    d, ctx = daemon, browser
    page = ctx.new_page()  # type: ignore[attr-defined]
    html = (f'<!doctype html><title>attacker</title><iframe id=f1 src="{d.base}/stove"></iframe>'
            f'<iframe id=f2 src="{d.pages_base}/arxiv/{EVIL_ID}"></iframe>')
    page.route("http://attacker.example/", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto("http://attacker.example/", wait_until="load")
    assert len(page.frames) == 3
    for frame in page.main_frame.child_frames:
        # Chromium replaces a frame it refuses to render by its error page
        assert not frame.url.startswith((d.base, d.pages_base)), frame.url
        try:
            content = frame.content()
        except Exception:  # a refused frame may not even be scriptable
            content = ""
        assert "Nothing here can turn gas on" not in content, frame.url
        assert "A paper" not in content, frame.url


def test_a_rebound_host_name_gets_400(daemon: DaemonProc, browser: object) -> None:
    """evil.example resolves to 127.0.0.1 (DNS rebinding): the browser thinks it is evil.example's page."""
    d, ctx = daemon, browser
    page = ctx.new_page()  # type: ignore[attr-defined]
    for url in (f"http://evil.example:{d.port}/stove", f"http://evil.example:{d.pages_port}/arxiv/{EVIL_ID}"):
        response = page.goto(url)
        assert response is not None, url
        assert response.status == 400, url
        assert "Nothing here can turn gas on" not in page.content()
    assert no_cut(d)
