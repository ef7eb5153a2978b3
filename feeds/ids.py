"""arXiv identifiers: one canonical, version-less form per paper.

Papers are keyed by this form everywhere (database, index, URLs), so every
spelling a user or a feed may use has to land on the same string:
``arXiv:2401.06769v2``, ``https://arxiv.org/pdf/2401.06769v2.pdf``,
``2401.6769`` (a 5-digit-era id missing its leading zero) and
``1406.02661`` (a 4-digit-era id with one too many) all normalise, and
old-style ``math.CO/9901016`` becomes arXiv's canonical ``math/9901016``.
"""

from __future__ import annotations

import re

from core.errors import InputError

__all__ = ["abs_url", "is_arxiv_id", "normalize_id", "parse_id", "pdf_url"]

MAX_ID_INPUT = 300

_PREFIX_RE = re.compile(r"^(?:oai:arxiv\.org:|arxiv:)", re.IGNORECASE)
_URL_RE = re.compile(
    r"^(?:https?://)?(?:[a-z0-9-]+\.)*(?:arxiv\.org|papers\.cool)/"
    r"(?:abs|pdf|html|format|arxiv)/(?P<rest>[^?#]+?)/?(?:[?#].*)?$",
    re.IGNORECASE,
)
_NEW_RE = re.compile(r"^(?P<yy>\d\d)(?P<mm>\d\d)\.(?P<num>\d{4,5})(?:v(?P<v>\d{1,4}))?$")
_OLD_RE = re.compile(
    r"^(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[a-z-]{2,12})?/(?P<yy>\d\d)(?P<mm>\d\d)(?P<num>\d{3})(?:v(?P<v>\d{1,4}))?$",
    re.IGNORECASE,
)


def parse_id(text: str) -> tuple[str, int | None]:
    """Split any accepted spelling into (canonical id, version or None); InputError if garbage."""
    if not isinstance(text, str):
        raise InputError(f"an arXiv id must be text, got {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise InputError("empty arXiv id")
    if len(raw) > MAX_ID_INPUT:
        raise InputError(f"not an arXiv id (longer than {MAX_ID_INPUT} characters)")
    s = _PREFIX_RE.sub("", raw)
    url = _URL_RE.match(s)
    if url:
        s = _PREFIX_RE.sub("", url.group("rest"))
        if s.lower().endswith(".pdf"):
            s = s[:-4]
    m = _NEW_RE.match(s)
    if m:
        return _new_style(m, raw)
    m = _OLD_RE.match(s)
    if m:
        return _old_style(m, raw)
    raise InputError(f"not an arXiv id: {raw[:80]!r} (expected e.g. 2401.06769, 1301.3781 or hep-th/9901001)")


def _version(m: re.Match[str], raw: str) -> int | None:
    v = m.group("v")
    if v is None:
        return None
    if int(v) < 1:
        raise InputError(f"not an arXiv id: {raw[:80]!r} (versions start at v1)")
    return int(v)


def _new_style(m: re.Match[str], raw: str) -> tuple[str, int | None]:
    yy, mm, num = int(m.group("yy")), int(m.group("mm")), m.group("num")
    if not 1 <= mm <= 12 or yy * 100 + mm < 704:
        raise InputError(f"not an arXiv id: {raw[:80]!r} (new-style ids start at 0704)")
    if yy * 100 + mm <= 1412:  # 4-digit era: "1406.02661" means 1406.2661
        if len(num) == 5:
            if num[0] != "0":
                raise InputError(f"not an arXiv id: {raw[:80]!r} (ids before 1501 have 4 digits)")
            num = num[1:]
    elif len(num) == 4:  # 5-digit era: "2401.6769" means 2401.06769
        num = "0" + num
    return f"{m.group('yy')}{m.group('mm')}.{num}", _version(m, raw)


def _old_style(m: re.Match[str], raw: str) -> tuple[str, int | None]:
    yy, mm = int(m.group("yy")), int(m.group("mm"))
    if not 1 <= mm <= 12 or not (yy >= 91 or yy <= 7):
        raise InputError(f"not an arXiv id: {raw[:80]!r} (old-style ids run from 9108 to 0703)")
    return f"{m.group('archive').lower()}/{m.group('yy')}{m.group('mm')}{m.group('num')}", _version(m, raw)


def normalize_id(text: str) -> str:
    """The canonical version-less id for any accepted spelling; InputError on garbage."""
    return parse_id(text)[0]


def is_arxiv_id(text: str) -> bool:
    """True when ``text`` is some spelling of an arXiv id."""
    try:
        parse_id(text)
    except InputError:
        return False
    return True


def abs_url(paper_id: str) -> str:
    """arXiv's abstract page: where every paper links, never a copy of ours."""
    return f"https://arxiv.org/abs/{paper_id}"


def pdf_url(paper_id: str) -> str:
    """arXiv's PDF (never re-hosted: e-prints are not CC0)."""
    return f"https://arxiv.org/pdf/{paper_id}"
