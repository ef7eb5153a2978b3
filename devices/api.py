"""The stove's JSON API for apps and the CLI, and a small control page.

Every endpoint needs ``Authorization: Bearer <token>``; bodies are validated by
the same parser MQTT uses, so both interfaces accept and refuse the same
things. FastAPI publishes the OpenAPI schema at ``/api/openapi.json``: the token
is its HTTP bearer security scheme, and every status an operation can answer is
listed with the body it carries (``{"detail": "<text>"}``, or for 422 FastAPI's
validation-error list, which the API's own refusals of a well-formed but
unacceptable command use too). tests/daemon/test_openapi_conformance.py holds
the live API to the document.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Security
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, model_validator

from core.errors import InputError
from devices.commands import parse_command, parse_duration
from devices.stove import Stove, TimerBook

__all__ = [
    "DEADLINE_HEADER", "Invalid", "Issue", "Problem", "Refused", "invalid", "make_router", "refusal_auditor",
]

DEADLINE_HEADER = "X-Coolstove-Deadline"  # unix time (s) after which the client no longer waits


class Refused(HTTPException):
    """An HTTP refusal that has already been written to the audit log."""

    audited = True


def invalid(message: str, loc: tuple[str, ...] = ("body",)) -> Refused:
    """A 422 shaped as FastAPI's own (``{"detail": [{"loc", "msg", "type"}]}``): one 422 body for clients.

    ``loc`` names the field when it is known; a command refused as a whole is at ``["body"]``.
    """
    return Refused(422, [{"loc": list(loc), "msg": message, "type": "value_error"}])


class _Strict(BaseModel):
    """JSON as sent: no bool as a number, no number as text, no explicit null, no lone surrogates."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                name = _printable(str(key))[:32]
                if value is None:
                    raise ValueError(f"{name}: null is not a value (leave the key out)")
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"{name}: must be a finite number")
                if isinstance(value, str) and not _printable(value) == value:
                    raise ValueError(f"{name}: not valid Unicode text")
        return data


def _printable(text: str) -> str:
    """Text safe to store and log: lone surrogates (valid JSON escapes, invalid UTF-8) are escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


Duration = StrictInt | StrictFloat | StrictStr


class CutRequest(_Strict):
    burner: StrictStr = Field("all", max_length=64, description="a burner name, or 'all'")
    delay_s: Duration | None = Field(None, description="cut after this long: seconds, or 10m / 1h30m")
    at: StrictStr | None = Field(
        None, max_length=64, description="cut at HH:MM (next occurrence) or an ISO date-time"
    )


class BurnerRequest(_Strict):
    burner: StrictStr = Field("all", max_length=64)


class ExtendRequest(_Strict):
    burner: StrictStr = Field(..., max_length=64)
    by_s: Duration = Field(..., description="seconds (or 5m) to add to the countdown")


class ScheduleRequest(_Strict):
    burner: StrictStr = Field("all", max_length=64)
    cron: StrictStr = Field(
        ..., max_length=100, description="5-field cron ('0 23 * * *') or HH:MM for every day"
    )


class Problem(BaseModel):
    """Every refusal but 422: what was wrong, in words."""

    detail: str


class Issue(BaseModel):
    """One thing wrong with a request: where (``["body", "burner"]``), what, and its kind."""

    loc: list[str]
    msg: str
    type: str


class Invalid(BaseModel):
    """A 422: at most five issues; never the input itself."""

    detail: list[Issue]


def _problem(text: str) -> dict[str, Any]:
    return {"model": Problem, "description": text}


# The guard in front of every route answers these before any handler runs (daemon.http.Guard),
# and the token is checked before anything else.
_EVERY: dict[int | str, dict[str, Any]] = {
    400: _problem("The Host header does not name this daemon, or the body is not parseable JSON"),
    401: {**_problem("Missing or wrong bearer token"),
          "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}},
    408: _problem("The request body did not arrive in time"),
    413: _problem("Request body over 64 KiB"),
}
_VALIDATION: dict[int | str, dict[str, Any]] = {
    422: {"model": Invalid,
          "description": "Invalid request: FastAPI's validation-error list (also for a well-formed command "
                         "the stove refuses, such as an unknown burner or a bad duration)"},
}
_COMMAND: dict[int | str, dict[str, Any]] = {
    **_VALIDATION,
    400: _problem("The Host header does not name this daemon, the body is not parseable JSON, "
                  f"or {DEADLINE_HEADER} is not a unix time"),
    408: _problem(f"The body did not arrive in time, or the {DEADLINE_HEADER} passed before the command "
                  "could run (it is not carried out)"),
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _problem("The stove could not carry the command out (e.g. extend with no countdown pending)"),
}
_NO_TIMERS: dict[int | str, dict[str, Any]] = {503: _problem("The timers are not available")}


class Result(BaseModel):
    ok: bool
    action: str
    detail: str | None = None
    error: str | None = None
    burners: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


def refusal_auditor(stove: Stove) -> Callable[[str, str], Awaitable[None]]:
    """Audits requests to the stove API refused before any handler ran (bad JSON, 413)."""

    async def audit(path: str, message: str) -> None:
        if path.startswith("/api/stove"):
            action = path.rstrip("/").rsplit("/", 1)[-1][:32] or "?"
            await stove.reject("http", "all", action, message)

    return audit


_BEARER = HTTPBearer(
    auto_error=False,  # the check below refuses (and audits) with the daemon's own 401
    scheme_name="bearer",
    description="The daemon's HTTP token (COOLSTOVE_HTTP_TOKEN or the http_token credential)",
)


def make_router(stove: Stove, token: str) -> APIRouter:
    async def auth(request: Request, _declared: object = Security(_BEARER)) -> None:
        """The token check; ``_BEARER`` only declares the scheme in the OpenAPI document."""
        authorization = request.headers.get("authorization", "")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            await stove.reject("http", "all", "auth", "missing or wrong bearer token")
            raise Refused(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def source(x_coolstove_source: str | None = Header(None, max_length=16)) -> str:
        """The audit source: the CLI says so; any other client is "http"."""
        return "cli" if x_coolstove_source == "cli" else "http"

    def deadline(x_coolstove_deadline: str | None = Header(None, max_length=32)) -> str | None:
        return x_coolstove_deadline

    async def fresh(given: str | None, src: str, burner: str, action: str) -> None:
        """A command whose client gave up waiting is never carried out later."""
        if given is None:
            return
        try:
            limit = float(given)
            if not math.isfinite(limit):
                raise ValueError(given)
        except ValueError:
            msg = f"{DEADLINE_HEADER} must be a unix time in seconds"
            await stove.reject(src, burner, action, msg)
            raise Refused(400, msg) from None
        late = time.time() - limit
        if late > 0:
            msg = f"stale request: its deadline passed {late:.1f} s before it could run; not executed"
            await stove.reject(src, burner, action, msg)
            raise Refused(408, msg)

    async def timer_book(src: str | None = None, burner: str = "all", action: str = "") -> TimerBook:
        """The stove's timers; attached before the daemon serves HTTP, so a 503 here is a start-up bug.

        With ``src`` (a change was asked for) the refusal is audited like any other.
        """
        if stove.timers is None:
            msg = "timers are not available"
            if src is not None:
                await stove.reject(src, burner, action, msg)
            raise Refused(503, msg)
        return stove.timers

    api = APIRouter(prefix="/api/stove", tags=["stove"], dependencies=[Depends(auth)], responses=_EVERY)

    async def run(body: dict[str, Any], src: str, limit: str | None) -> dict[str, Any]:
        await fresh(limit, src, body["burner"], body["action"])
        try:
            cmd = parse_command(body, burners=stove.names)
        except InputError as exc:
            await stove.reject(src, body["burner"][:64], body["action"], _printable(str(exc)))
            raise invalid(_printable(str(exc))) from None
        result = await stove.execute(cmd, src)
        if not result["ok"] and "error" in result:
            raise Refused(409, result["error"])
        return result

    @api.get("", summary="Status of every burner")
    async def status() -> dict[str, Any]:
        return {"burners": stove.status_all(), "schedules": stove.timers.schedules() if stove.timers else []}

    @api.post("/cut", response_model=Result, responses={**_COMMAND, **_CONFLICT},
              summary="Cut the gas now, after a delay, or at a time")
    async def cut(
        req: CutRequest, src: str = Depends(source), limit: str | None = Depends(deadline)
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"action": "cut", "burner": req.burner}
        if req.delay_s is not None:
            body["delay_s"] = req.delay_s
        if req.at is not None:
            body["at"] = req.at
        return await run(body, src, limit)

    @api.post("/cancel", response_model=Result, responses={**_COMMAND, **_CONFLICT},
              summary="Cancel pending countdowns")
    async def cancel(
        req: BurnerRequest, src: str = Depends(source), limit: str | None = Depends(deadline)
    ) -> dict[str, Any]:
        return await run({"action": "cancel", "burner": req.burner}, src, limit)

    @api.post("/extend", response_model=Result, responses={**_COMMAND, **_CONFLICT},
              summary="Add time to a pending countdown")
    async def extend(
        req: ExtendRequest, src: str = Depends(source), limit: str | None = Depends(deadline)
    ) -> dict[str, Any]:
        return await run({"action": "extend", "burner": req.burner, "by_s": req.by_s}, src, limit)

    @api.get("/schedules", responses=_NO_TIMERS, summary="Recurring cuts")
    async def schedules() -> list[dict[str, Any]]:
        return (await timer_book()).schedules()

    @api.post("/schedules", status_code=201, responses={**_COMMAND, **_NO_TIMERS},
              summary="Add a recurring cut")
    async def add_schedule(
        req: ScheduleRequest, src: str = Depends(source), limit: str | None = Depends(deadline)
    ) -> dict[str, Any]:
        await fresh(limit, src, req.burner, "schedule_add")
        timers = await timer_book(src, req.burner, "schedule_add")
        try:
            entry = await timers.add_schedule(req.burner, req.cron)
        except InputError as exc:
            await stove.reject(src, req.burner, "schedule_add", _printable(str(exc)))
            raise invalid(_printable(str(exc)), ("body", "cron")) from None
        await stove.audit.record(source=src, burner=req.burner, action="schedule_add", result="ok",
                                 detail=f"{entry['id']} {entry['cron']}")
        return entry

    @api.delete(
        "/schedules/{sid}",
        responses={**_COMMAND, **_NO_TIMERS, 404: _problem("No schedule with this id")},
        summary="Remove a recurring cut",
    )
    async def remove_schedule(
        sid: str = Path(..., max_length=16), src: str = Depends(source), limit: str | None = Depends(deadline)
    ) -> dict[str, Any]:
        await fresh(limit, src, "all", "schedule_remove")
        timers = await timer_book(src, "all", "schedule_remove")
        if not await timers.remove_schedule(sid):
            msg = f"no schedule {_printable(sid)!r}"
            await stove.reject(src, "all", "schedule_remove", msg)
            raise Refused(404, msg)
        await stove.audit.record(source=src, burner="all", action="schedule_remove", result="ok", detail=sid)
        return {"ok": True, "removed": sid}

    @api.get("/log", responses=_VALIDATION, summary="The audit log, newest first")
    async def log(
        limit: int = Query(50, ge=1, le=1000),
        burner: str | None = Query(None, max_length=64),
    ) -> list[dict[str, Any]]:
        return [e.as_dict() for e in await stove.audit.recent(limit, burner)]

    @api.get("/parse-duration", include_in_schema=False)
    async def duration(text: str = Query(..., max_length=32)) -> dict[str, float]:
        try:
            return {"seconds": parse_duration(text)}
        except InputError as exc:
            raise invalid(str(exc), ("query", "text")) from None

    page = APIRouter()

    @page.get("/stove", response_class=HTMLResponse, include_in_schema=False)
    async def control_page() -> str:
        return resources.files("devices").joinpath("control.html").read_text(encoding="utf-8")

    @page.get("/static/stove/control.js", include_in_schema=False)
    async def control_script() -> Response:
        text = resources.files("devices").joinpath("static", "control.js").read_text(encoding="utf-8")
        return Response(text, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    outer = APIRouter()
    outer.include_router(api)
    outer.include_router(page)
    return outer
