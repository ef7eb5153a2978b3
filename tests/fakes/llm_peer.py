"""A fake OpenAI-compatible chat-completions endpoint and a fake arXiv PDF server, on one loopback port.

Raw HTTP/1.1 over asyncio streams, so the test controls every byte: streamed answers are chunked
``text/event-stream`` bodies of ``data: {json}`` events (``choices[0].delta.content`` pieces, a final
``usage`` chunk, ``data: [DONE]``), as OpenAI, Moonshot and llama.cpp send them. Each chat request takes
the next scripted :class:`Reply` (the default answer when the script is empty): a stream, an HTTP error
with ``Retry-After``, a stream that reports an error halfway, or one whose connection is cut.
``GET /pdf/<id>`` serves ``pdfs[id]``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LlmPeer", "Reply", "make_pdf"]


@dataclass
class Reply:
    kind: str = "stream"  # stream | status | error_mid | drop
    pieces: list[str] = field(default_factory=list)
    status: int = 200
    retry_after: str | None = None
    hold: asyncio.Event | None = None  # stream: wait for this after the first piece
    message: str | None = None  # status: the error body's message

    @classmethod
    def stream(cls, pieces: list[str], hold: asyncio.Event | None = None) -> Reply:
        return cls("stream", list(pieces), hold=hold)

    @classmethod
    def http(cls, status: int, retry_after: str | None = None, message: str | None = None) -> Reply:
        return cls("status", status=status, retry_after=retry_after, message=message)

    @classmethod
    def error_mid(cls, pieces: list[str]) -> Reply:
        return cls("error_mid", list(pieces))

    @classmethod
    def drop(cls, pieces: list[str]) -> Reply:
        return cls("drop", list(pieces))


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _event(obj: Any) -> bytes:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "fake",
            "choices": [{"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}]}


class LlmPeer:
    def __init__(self, answer: list[str] | None = None, port: int = 0) -> None:
        self.answer = answer or ["### What problem?\n\n", "It solves $x_1 < y$.", "\n\nDone."]
        self.script: list[Reply] = []
        self.pdfs: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self.port = port

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pdf_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pdf/{{id}}"

    async def start(self) -> LlmPeer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> LlmPeer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            pairs = (ln.partition(":") for ln in lines[1:] if ln)
            headers = {k.strip().lower(): v.strip() for k, _, v in pairs}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, path, headers, body)
            self.requests.append(request)
            if method == "GET" and path.startswith("/pdf/"):
                await self._pdf(writer, path.removeprefix("/pdf/"))
            elif method == "POST" and path == "/v1/chat/completions":
                await self._chat(writer, self.script.pop(0) if self.script else Reply.stream(self.answer))
            else:
                await self._plain(writer, 404, b"not found")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def _plain(self, writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str = "text/plain",
                     extra: str = "") -> None:
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                     f"{extra}Connection: close\r\n\r\n".encode() + body)
        await writer.drain()

    async def _pdf(self, writer: asyncio.StreamWriter, versioned_id: str) -> None:
        pdf = self.pdfs.get(versioned_id)
        if pdf is None:
            await self._plain(writer, 404, b"no such paper")
        else:
            await self._plain(writer, 200, pdf, "application/pdf")

    async def _chat(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.kind == "status":
            extra = f"Retry-After: {reply.retry_after}\r\n" if reply.retry_after is not None else ""
            message = reply.message or f"fake error {reply.status}"
            body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
            await self._plain(writer, reply.status, body.encode(), "application/json", extra)
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")
        for i, piece in enumerate(reply.pieces):
            writer.write(_chunk(_event(_delta(piece))))
            await writer.drain()
            if i == 0 and reply.hold is not None:
                await reply.hold.wait()
        if reply.kind == "drop":
            writer.transport.abort()  # the connection is cut mid-body (no last chunk)
            return
        if reply.kind == "error_mid":
            error = {"error": {"message": "upstream overloaded", "type": "server_error"}}
            writer.write(_chunk(_event(error)))
        else:
            writer.write(_chunk(_event(_delta("", "stop"))))
            usage = {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290}
            writer.write(_chunk(_event({"id": "chatcmpl-1", "choices": [], "usage": usage})))
            writer.write(_chunk(b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def make_pdf(title: str, left: list[str], right: list[str], *, pages: int = 1) -> bytes:
    """A real PDF (reportlab): a title, then two columns of lines on each page, left column first; a line
    that starts with ``$`` is maths in the Symbol font."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    width, height = A4
    for page in range(pages):
        if page == 0:
            c.setFont("Helvetica-Bold", 14)
            c.drawString(72, height - 72, title)
        for x, lines in ((60, left), (width / 2 + 10, right)):
            text = c.beginText(x, height - 110)
            for line in lines:  # a line that starts with "$" is maths, set in the Symbol font (α, ≤, ∑)
                text.setFont("Symbol" if line.startswith("$") else "Helvetica", 10)
                line = line.removeprefix("$")
                text.textLine(line if page == 0 else f"{line} (page {page + 1})")
            c.drawText(text)
        c.showPage()
    c.save()
    return out.getvalue()
