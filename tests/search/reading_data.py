"""Test data for the reading aids: small real PDFs (plain, CJK in an unembedded font, JPEG 2000), a long
day list, a local "arXiv PDF host"."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image
from reportlab.lib.pagesizes import letter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from search_data import DAY, insert_papers

from core.database import Database

PAGE_SIZE = 20  # [papers] page_size in these tests
LONG_NEW = 27  # new submissions added to cs.LG on DAY (the sample holds 2 new, 2 cross, 1 replacement)
LONG_CROSS = 20


def _assemble(objects: list[bytes]) -> bytes:
    """A PDF file of ``objects`` (object 1 the catalog), with its xref table."""
    out = bytearray(b"%PDF-1.5\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(head: str, data: bytes) -> bytes:
    return f"<< {head} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def make_pdf(pages: int = 4) -> bytes:
    """A valid PDF of ``pages`` US-letter pages, each a black block and a line of Helvetica."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    font = 3 + 2 * pages
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    for i in range(pages):
        stream = f"0 0 0 rg 72 420 468 300 re f BT /F1 28 Tf 72 360 Td (Test page {i + 1}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(_stream("", stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _assemble(objects)


CJK_TEXT = "中文预览"


def make_cjk_pdf() -> bytes:
    """One page of large Chinese text in STSong-Light, a CID font the PDF does not embed: PDF.js needs its
    UniGB-UCS2-H CMap (pdfjs/cmaps/) to map the text's codes to glyphs."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.setFont("STSong-Light", 110)
    c.drawString(72, 560, CJK_TEXT)
    c.save()
    return buf.getvalue()


def make_jpx_pdf() -> bytes:
    """One page whose only ink is a JPEG 2000 image (a dark square): PDF.js decodes JPX with OpenJPEG
    (pdfjs/wasm/), or draws nothing."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 20, 30)).save(buf, format="JPEG2000")
    draw = b"q 400 0 0 400 106 300 cm /Im1 Do Q"
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /XObject << /Im1 5 0 R >> >> >>",
            _stream("", draw),
            _stream("/Type /XObject /Subtype /Image /Width 64 /Height 64 /Filter /JPXDecode", buf.getvalue()),
        ]
    )


@contextlib.contextmanager
def pdf_host(cors: bool = True, special: dict[str, bytes] | None = None) -> Iterator[tuple[str, list[str]]]:
    """A local stand-in for arxiv.org/pdf/: (base URL ending in /pdf/, paths requested). Every id gets
    :func:`make_pdf`'s file unless ``special`` maps it to another. As arXiv has done since 2024, only
    ``/pdf/<id>`` carries ``Access-Control-Allow-Origin``; ``/pdf/<id>.pdf`` is a bare redirect to it."""
    body = make_pdf()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path.endswith(".pdf"):
                self.send_response(301)
                self.send_header("Location", self.path.removesuffix(".pdf"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = (special or {}).get(self.path.rsplit("/", 1)[-1], body)
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(data)))
            if cors:  # what a PDF host must send for a page of another origin to read the PDF
                self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pdf/", seen
    finally:
        server.shutdown()
        server.server_close()


def add_long_day(db: Database) -> None:
    """LONG_NEW more new submissions and LONG_CROSS cross-lists in cs.LG on DAY (one with maths)."""
    papers: list[dict[str, Any]] = []
    for i in range(LONG_NEW):
        papers.append(
            {
                "id": f"2403.1{i:04d}",
                "title": f"Long list paper number {i}" + (" on $x^2$ maths" if i == LONG_NEW - 1 else ""),
                "abstract": "zebra crossing" if i % 2 else "plain words",
                "authors": ["Ann Long"],
                "categories": "cs.LG",
                "ann": [("cs.LG", DAY, "new", 100 + i)],
            }
        )
    for i in range(LONG_CROSS):
        papers.append(
            {
                "id": f"2403.2{i:04d}",
                "title": f"Cross-listed paper number {i}",
                "abstract": "zebra stripes" if i % 2 else "other words",
                "authors": ["Cy Cross"],
                "categories": "stat.ML cs.LG",
                "ann": [("cs.LG", DAY, "cross", 100 + i)],
            }
        )
    insert_papers(db, papers)
