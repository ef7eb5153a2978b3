"""The [FAQ] button's pages: a paper's FAQ from a language model, queued, streamed, shown.

- ``GET /faq/<id>?lang=en``: the FAQ as a page (works without JavaScript: a button queues it, the page
  reloads itself while it is queued or being written);
- ``POST /faq/<id>?lang=en``: queue it (JSON for ``faq.js``, else a redirect to the page); a cross-site
  POST is refused by its Origin, a full queue is 503 with a message;
- ``GET /faq-stream/<id>?lang=en``: server-sent events, one JSON state per change (``Pending: 3``, then
  the text as it is written), until it is done or failed.

The model's Markdown is untrusted: it is rendered here with markdown-it-py with raw HTML off, images
off and links kept only when they are absolute http(s) URLs; ``$...$`` and ``$$...$$`` become
``span.math`` / ``div.math`` elements holding the escaped TeX, which ``faq.js`` gives to the KaTeX the
pages already serve (``trust: false``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from mdit_py_plugins.dollarmath import dollarmath_plugin

from core.errors import InputError
from search.ports import FaqService, FaqState
from search.web.origin import same_origin

__all__ = ["HEARTBEAT_S", "LANGUAGE_NAMES", "faq_router", "render_markdown", "state_json"]

LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
HEARTBEAT_S = 15.0  # an SSE comment this often while nothing changes
_BRACKET_MATH = re.compile(r"\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
_FENCE = re.compile(r"(^|\n)(```|~~~).*?(\n\2[^\n]*(?=\n|$)|$)", re.DOTALL)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").disable("image")
    dollarmath_plugin(md, allow_space=True, allow_digits=False, double_inline=True)
    md.validateLink = _http_only  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
        return str(renderer.renderToken(tokens, idx, options, env))

    def display_inline(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return f'<span class="math display">{escapeHtml(tokens[idx].content)}</span>'  # not a div in a <p>

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("math_inline_double", display_inline)
    return md


def _http_only(url: str) -> bool:
    parts = urllib.parse.urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


_MD = _markdown()


def _brackets_to_dollars(text: str) -> str:
    r"""``\[...\]`` and ``\(...\)`` (how many models write maths) as ``$$...$$`` and ``$...$``, outside
    code fences (Markdown would otherwise eat the backslashes)."""
    out, last = [], 0
    for fence in _FENCE.finditer(text):
        out.append(_BRACKET_MATH.sub(_dollars, text[last:fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(_BRACKET_MATH.sub(_dollars, text[last:]))
    return "".join(out)


def _dollars(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return f"$${m.group(1)}$$"
    return f"${m.group(2).strip()}$"


def render_markdown(text: str) -> str:
    """Safe HTML for a model's Markdown (see the module's docstring)."""
    return _MD.render(_brackets_to_dollars(text))


def state_json(state: FaqState) -> dict[str, Any]:
    return {
        "id": state.paper_id,
        "version": state.version,
        "language": state.language,
        "model": state.model,
        "status": state.status,
        "position": state.position,
        "html": render_markdown(state.text) if state.text else "",
        "note": state.note,
        "error": state.error,
        "detail": state.detail,
    }


def faq_router(faq: FaqService, render: Callable[..., HTMLResponse]) -> APIRouter:
    """The FAQ routes; ``render(template, status=..., **ctx)`` is the pages' renderer."""
    router = APIRouter(include_in_schema=False)
    default = faq.languages[0]

    def language(request: Request) -> str:
        return request.query_params.get("lang") or default

    def refused(status: int, message: str, wants_json: bool) -> Response:
        if wants_json:
            return JSONResponse({"error": message}, status_code=status)
        return render("error.html", status=status, message=message)

    @router.get("/faq/{paper_id:path}", response_model=None)
    async def faq_page(request: Request, paper_id: str) -> Response:
        lang = language(request)
        try:
            state = await faq.status(paper_id, lang)
        except InputError as exc:
            return refused(404, str(exc), False)
        return render(
            "faq.html", state=state, html=render_markdown(state.text) if state.text else "",
            languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in faq.languages], lang=lang,
            refresh_s=5 if state.status in ("queued", "running") else None,
        )

    @router.post("/faq/{paper_id:path}", response_model=None)
    async def faq_request(request: Request, paper_id: str) -> Response:
        wants_json = "application/json" in request.headers.get("accept", "")
        if not same_origin(request):
            return refused(403, "cross-site request refused", wants_json)
        lang = language(request)
        try:
            state = await faq.request(paper_id, lang)
        except InputError as exc:
            full = "queue is full" in str(exc)
            return refused(503 if full else 404, str(exc), wants_json)
        if wants_json:
            return JSONResponse(state_json(state))
        query = urllib.parse.urlencode({"lang": lang})
        return RedirectResponse(f"/faq/{state.paper_id}?{query}", status_code=303)

    @router.get("/faq-stream/{paper_id:path}", response_model=None)
    async def faq_stream(request: Request, paper_id: str) -> Response:
        lang = language(request)
        try:
            await faq.status(paper_id, lang)  # a bad id or language is a 404, not an empty stream
        except InputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

        async def events() -> AsyncIterator[bytes]:
            states = faq.watch(paper_id, lang)
            pending: asyncio.Future[FaqState] | None = None
            try:
                while True:
                    pending = asyncio.ensure_future(anext(states))
                    while not (await asyncio.wait({pending}, timeout=HEARTBEAT_S))[0]:
                        yield b": waiting\n\n"  # a comment: keeps proxies from closing a long wait
                    try:
                        state = pending.result()
                    except StopAsyncIteration:
                        return
                    yield f"data: {json.dumps(state_json(state), ensure_ascii=False)}\n\n".encode()
            except InputError as exc:  # the paper left the database meanwhile
                yield f"data: {json.dumps({'status': 'error', 'error': str(exc)})}\n\n".encode()
            finally:  # the reader left: stop watching (the generation itself goes on)
                if pending is not None and not pending.done():
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await pending

        return StreamingResponse(
            events(), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
