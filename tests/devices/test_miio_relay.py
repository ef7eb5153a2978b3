"""MiioRelay against a real miio UDP peer on loopback (tests/fakes/miio_peer.py).

Every peer binds its own random 127.x.y.z:54321, so these tests may run in
parallel with other test sessions on the same host.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer
from waiting import wait_for

from core.config import MiioBurner
from core.errors import ConfigError, DeviceRejected, DeviceUnavailable
from devices.drivers import make_relay
from devices.miio_link import MiioLink
from devices.miio_relay import MiioRelay
from devices.relay import Relay

pytestmark = pytest.mark.miio

TIMEOUT_S = 0.3
RETRIES = 1


def burner_for(peer: MiioPeer, **kw: object) -> MiioBurner:
    base = dict(
        name="front", host=peer.host, token=DEFAULT_TOKEN,
        siid=2, piid=1, timeout_s=TIMEOUT_S, retries=RETRIES,
    )
    return MiioBurner(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture
async def peer() -> AsyncIterator[MiioPeer]:
    async with MiioPeer() as p:
        yield p


@pytest.fixture
async def relay(peer: MiioPeer) -> AsyncIterator[MiioRelay]:
    r = MiioRelay(burner_for(peer))
    await r.start()
    yield r
    await r.stop()



# ---------------------------------------------------------------- the coil


async def test_cut_release_and_read_back(peer: MiioPeer, relay: MiioRelay) -> None:
    assert isinstance(relay, Relay)
    assert await relay.read() is False
    await relay.set(True)
    assert peer.switch(2, 1) is True
    assert await relay.read() is True
    await relay.set(False)
    assert peer.switch(2, 1) is False
    assert await relay.read() is False
    assert [(c.value, c.source) for c in peer.changes("2.1")] == [
        (False, "init"), (True, "set_properties"), (False, "set_properties")]
    assert peer.switch(3, 1) is False, "only the configured channel moves"


async def test_make_relay_builds_the_miio_driver(peer: MiioPeer) -> None:
    r = make_relay(burner_for(peer))
    try:
        assert isinstance(r, MiioRelay)
        await r.set(True)
        assert peer.switch() is True
    finally:
        await r.stop()


async def test_switch_changed_on_the_device_is_read(peer: MiioPeer, relay: MiioRelay) -> None:
    peer.flip()
    assert await relay.read() is True
    assert peer.changes("2.1")[-1].source == "flip"


async def test_off_delay_written_before_energising_and_releases_at_the_peer(peer: MiioPeer) -> None:
    relay = MiioRelay(burner_for(peer, off_delay_piid=3))
    assert relay.has_device_pulse
    try:
        t0 = time.monotonic()
        await relay.set(True, auto_off_s=0.4)  # whole seconds on the device: 1 s
        sets = [p for _, m, p in peer.requests if m == "set_properties"]
        assert [(p[0]["siid"], p[0]["piid"], p[0]["value"]) for p in sets] == [(2, 3, 1), (2, 1, True)]
        assert peer.props[(2, 3)] == 1
        await wait_for(lambda: peer.switch() is False, timeout=3)
        released = peer.changes("2.1", False)[-1]
        assert released.source == "off-delay"
        assert 0.9 <= released.mono - t0 <= 3.0
        assert await relay.read() is False
    finally:
        await relay.stop()


async def test_off_delay_untouched_without_auto_off(peer: MiioPeer) -> None:
    peer.props[(2, 3)] = 30
    relay = MiioRelay(burner_for(peer, off_delay_piid=3))
    try:
        await relay.set(True)
        assert peer.props[(2, 3)] == 30
        assert not [p for _, m, p in peer.requests if m == "set_properties" and p[0]["piid"] == 3]
    finally:
        await relay.stop()


async def test_without_off_delay_there_is_no_device_pulse(peer: MiioPeer, relay: MiioRelay) -> None:
    assert relay.has_device_pulse is False
    await relay.set(True, auto_off_s=1)
    assert peer.props[(2, 3)] == -1
    await asyncio.sleep(1.2)
    assert peer.switch() is True, "nothing on the device releases it"


async def test_refused_off_delay_still_cuts(peer: MiioPeer, caplog: pytest.LogCaptureFixture) -> None:
    peer.prop_codes[(2, 3)] = -4002
    relay = MiioRelay(burner_for(peer, off_delay_piid=3))
    try:
        with caplog.at_level(logging.ERROR, logger="devices.miio_relay"):
            await relay.set(True, auto_off_s=5)
        assert peer.switch() is True
        assert any("off-delay not set" in r.getMessage() for r in caplog.records)
    finally:
        await relay.stop()


# ---------------------------------------------------------------- failures


async def test_wrong_token_is_unavailable_and_never_named(peer: MiioPeer) -> None:
    wrong = "ffeeddccbbaa99887766554433221100"
    relay = MiioRelay(burner_for(peer, token=wrong))
    try:
        t0 = time.monotonic()
        with pytest.raises(DeviceUnavailable) as info:
            await relay.set(True)
        elapsed = time.monotonic() - t0
    finally:
        await relay.stop()
    assert peer.wrong_token_packets >= 1, "the packets reached the peer, which stayed silent"
    assert peer.switch() is False
    assert elapsed < relay.link.call_bound_s
    text = f"{info.value} {info.value.__cause__}"
    for secret in (wrong, wrong.upper(), DEFAULT_TOKEN):
        assert secret not in text
    assert "front" in str(info.value)


async def test_unreachable_fails_within_the_configured_timeouts(peer: MiioPeer, relay: MiioRelay) -> None:
    peer.unreachable = True
    t0 = time.monotonic()
    with pytest.raises(DeviceUnavailable, match="discover"):
        await relay.read()
    elapsed = time.monotonic() - t0
    # python-miio's own handshake would wait 5 s; ours: 2 hellos x 0.3 s
    assert elapsed < 2.5, elapsed  # python-miio's own handshake alone waits 5 s
    assert peer.dropped >= 2, "the packets reached the peer, which dropped them"


async def test_nothing_listening_is_unavailable_at_once() -> None:
    async with MiioPeer() as p:
        host = p.host  # a loopback address nobody serves once the peer is gone
    relay = MiioRelay(MiioBurner(name="gone", host=host, token=DEFAULT_TOKEN,
                             timeout_s=TIMEOUT_S, retries=RETRIES))
    try:
        t0 = time.monotonic()
        with pytest.raises(DeviceUnavailable):
            await relay.set(True)
        assert time.monotonic() - t0 < 2.5
    finally:
        await relay.stop()


async def test_error_reply_is_rejected(peer: MiioPeer, relay: MiioRelay) -> None:
    peer.error_code = -5001
    with pytest.raises(DeviceRejected, match="-5001"):
        await relay.set(True)
    with pytest.raises(DeviceRejected, match="-5001"):
        await relay.read()
    peer.error_code = None
    assert await relay.read() is False


async def test_recoverable_error_that_persists_is_rejected(peer: MiioPeer, relay: MiioRelay) -> None:
    peer.error_code = -9999  # python-miio retries these, then gives up
    with pytest.raises(DeviceRejected, match="after retries"):
        await relay.read()


async def test_property_refusal_is_rejected(peer: MiioPeer, relay: MiioRelay) -> None:
    peer.prop_codes[(2, 1)] = -4004
    with pytest.raises(DeviceRejected, match="code -4004"):
        await relay.set(True)


async def test_read_back_mismatch_is_rejected(peer: MiioPeer, relay: MiioRelay) -> None:
    peer.revert_sets = True
    with pytest.raises(DeviceRejected, match="reads back released"):
        await relay.set(True)
    assert [c.source for c in peer.changes("2.1")] == ["init", "set_properties", "revert"]


async def test_a_hung_call_is_cut_short_and_the_next_waits_for_the_worker(peer: MiioPeer) -> None:
    link = MiioLink(peer.host or "", DEFAULT_TOKEN, model="x", timeout_s=TIMEOUT_S, retries=RETRIES)
    try:
        link.call_bound_s = 0.3
        t0 = time.monotonic()
        with pytest.raises(DeviceUnavailable, match=r"within 0\.3 s"):
            await link.call("front", "hang", lambda dev: time.sleep(1.5))
        assert time.monotonic() - t0 < 1.2, "cut short before the hung call ended"
        link.call_bound_s = 5.0
        assert await link.get_property("front", 2, 1) is False
        assert time.monotonic() - t0 >= 1.45, "the single worker finished the hung call first"
    finally:
        await link.close()
    with pytest.raises(DeviceUnavailable, match="closed"):
        await link.get_property("front", 2, 1)


# ---------------------------------------------------------------- serialisation


async def test_concurrent_calls_are_serialised_on_one_device(peer: MiioPeer) -> None:
    peer.latency_s = 0.05
    front = MiioRelay(burner_for(peer, name="front", siid=2))
    back = MiioRelay(burner_for(peer, name="back", siid=3))
    assert front.link is back.link, "channels of one device share one link"
    try:
        results = await asyncio.gather(
            front.set(True), back.read(), front.read(), back.set(True), back.read(), front.read()
        )
    finally:
        await front.stop()
        await back.stop()
    assert results == [None, False, True, None, True, True]
    assert peer.max_in_flight == 1, "the device never saw two requests at once"
    assert len(peer.requests) == 8  # two sets (write + read-back) and four reads


async def test_link_released_by_the_last_user(peer: MiioPeer) -> None:
    a = MiioRelay(burner_for(peer, name="a"))
    b = MiioRelay(burner_for(peer, name="b"))
    await a.stop()
    assert not b.link.closed
    assert await b.read() is False
    await b.stop()
    assert b.link.closed
    await b.start()  # a restart takes a fresh link
    try:
        assert await b.read() is False
    finally:
        await b.stop()


# ---------------------------------------------------------------- voice switch, config


async def test_voice_switch(peer: MiioPeer) -> None:
    relay = MiioRelay(burner_for(peer, voice_siid=4))
    try:
        assert await relay.read_voice() is True  # resting "on", as in the blog's ch3
        peer.flip(4, 1)  # XiaoAI: "关闭燃气灶"
        assert await relay.read_voice() is False
        await relay.set_voice(True)
        assert peer.switch(4, 1) is True
        assert peer.switch(2, 1) is False
    finally:
        await relay.stop()


async def test_voice_not_configured(relay: MiioRelay, peer: MiioPeer) -> None:
    assert await relay.read_voice() is None
    await relay.set_voice(False)
    assert not [r for r in peer.requests if r[1] == "set_properties"]


async def test_voice_read_back_mismatch(peer: MiioPeer) -> None:
    relay = MiioRelay(burner_for(peer, voice_siid=4))
    peer.revert_sets = True
    try:
        with pytest.raises(DeviceRejected, match="voice"):
            await relay.set_voice(False)
    finally:
        await relay.stop()


def test_missing_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="token"):
        MiioRelay(MiioBurner(name="x", host="127.0.0.9"))


# ---------------------------------------------------------------- the token stays secret


async def failing(coro) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        await coro
    except (DeviceUnavailable, DeviceRejected) as exc:
        return exc
    raise AssertionError("expected a DeviceError")


@pytest.fixture
def miio_logger_at_debug() -> Iterator[None]:
    """python-miio's logger lowered to DEBUG, as a careless logging config would; restored after."""
    miio_logger = logging.getLogger("miio")
    before = miio_logger.level
    miio_logger.setLevel(logging.DEBUG)
    yield
    miio_logger.setLevel(before)


@pytest.mark.usefixtures("miio_logger_at_debug")
async def test_no_log_record_contains_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    wrong = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0"
    async with MiioPeer(token=token) as peer:
        peer.reveal_token = True  # an unprovisioned device tells its token in the hello answer
        relay = MiioRelay(burner_for(peer, token=token, off_delay_piid=3, voice_siid=4))
        intruder = MiioRelay(burner_for(peer, name="intruder", token=wrong))
        errors: list[BaseException] = []
        try:
            assert logging.getLogger("miio").level >= logging.INFO, "the link guards python-miio's logger"
            await relay.set(True, auto_off_s=2)
            await relay.read()
            await relay.read_voice()
            await relay.set(False)
            errors.append(await failing(intruder.read()))
            peer.error_code = -5001
            errors.append(await failing(relay.read()))
            peer.error_code, peer.unreachable = None, True
            errors.append(await failing(relay.read()))
        finally:
            await relay.stop()
            await intruder.stop()
    assert [type(e) for e in errors] == [DeviceUnavailable, DeviceRejected, DeviceUnavailable]
    assert len(caplog.records) > 0
    secrets = {t.lower() for t in (token, wrong)} | {t.upper() for t in (token, wrong)}
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert not any(s in text for s in secrets), record.name
    for exc in errors:
        chain = f"{exc} {exc.__cause__} {exc.__cause__.__cause__ if exc.__cause__ else ''}"
        assert not any(s in chain for s in secrets)
