"""A paper's text from its PDF (pypdf), and cutting it to a model's input budget.

pypdf is pure Python (no native code to build or patch), actively maintained, and its text
extraction follows the content stream, which for arXiv's LaTeX PDFs is the reading order, columns
included. It is CPU-bound: the engine calls :func:`extract_text_blocking` in a worker thread.
"""

from __future__ import annotations

import io
import logging
import re

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from core.errors import ParseError

__all__ = ["CHARS_PER_TOKEN", "PROMPT_RESERVE_TOKENS", "extract_text_blocking", "fit"]

_LOGGER = logging.getLogger(__name__)
# A conservative count for English and TeX (tokenisers give 3.5-4.5 characters a token; CJK fewer, but
# arXiv papers are mostly English): the budget is never exceeded by much, and a 128k model takes ~380 kB.
CHARS_PER_TOKEN = 3
PROMPT_RESERVE_TOKENS = 6_000  # the instructions, the questions and the answer
MAX_PAGES = 300
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def extract_text_blocking(pdf: bytes) -> str:
    """Every page's text, pages separated by a blank line; ParseError if it is not a readable PDF."""
    try:
        reader = PdfReader(io.BytesIO(pdf))
        pages = []
        for page in reader.pages[:MAX_PAGES]:
            pages.append(page.extract_text() or "")
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"the PDF cannot be read: {exc.__class__.__name__}: {exc}") from exc
    text = "\n\n".join(p.strip() for p in pages)
    text = _BLANK_LINES.sub("\n\n", _SPACES.sub(" ", text)).strip()
    if not text:
        raise ParseError("the PDF has no extractable text (scanned pages?)")
    return text


def fit(text: str, max_input_tokens: int) -> tuple[str, bool]:
    """``text`` cut to the model's budget (at a paragraph or line break when one is near), and whether
    it was cut."""
    budget = max(1_000, (max_input_tokens - PROMPT_RESERVE_TOKENS) * CHARS_PER_TOKEN)
    if len(text) <= budget:
        return text, False
    cut = text[:budget]
    for sep in ("\n\n", "\n", " "):
        at = cut.rfind(sep)
        if at > budget * 0.9:
            cut = cut[:at]
            break
    return cut.rstrip(), True
