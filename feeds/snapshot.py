"""Reading arXiv's bulk metadata snapshot (JSON lines, optionally gzipped) in constant memory.

The real file is several GB, so it is read line by line with a cap on line
length (a file with no newlines must not be slurped), and every line either
becomes a record or a numbered, readable reason; the importer decides what
to do with bad lines. gzip is recognised by its magic bytes, not the name.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.errors import InputError, ParseError
from feeds.ids import normalize_id
from feeds.records import PaperRecord, check_record, parse_rfc822
from feeds.tex import clean_name, split_authors

__all__ = ["MAX_LINE_BYTES", "BadLine", "SnapshotReader", "record_from_json"]

MAX_LINE_BYTES = 8 * 1024 * 1024  # the largest real records (thousands of authors) are ~1 MB


@dataclass(frozen=True, slots=True)
class BadLine:
    line_no: int
    reason: str


class SnapshotReader:
    """Iterate ``(line_no, PaperRecord | BadLine)`` over a snapshot file; ``position`` is bytes read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._raw: IO[bytes] = self.path.open("rb")
        except OSError as exc:
            raise InputError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        magic = self._raw.read(2)
        self._raw.seek(0)
        self.compressed = magic == b"\x1f\x8b"
        self._fh: IO[bytes] | gzip.GzipFile = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw
        )
        self.size = self.path.stat().st_size

    @property
    def position(self) -> int:
        """Bytes of the file on disk consumed so far (for a progress bar on .gz too)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def close(self) -> None:
        self._fh.close()
        self._raw.close()

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lines(self, skip: int = 0) -> Iterator[tuple[int, bytes | BadLine]]:
        """Raw lines with their 1-based numbers; the first ``skip`` lines are passed over unparsed."""
        line_no = 0
        read = self._fh.readline
        try:
            while True:
                line = read(MAX_LINE_BYTES + 1)
                if not line:
                    return
                line_no += 1
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):  # drain the rest of the giant line
                        line = read(1 << 20)
                    if line_no > skip:
                        yield line_no, BadLine(line_no, f"longer than {MAX_LINE_BYTES} bytes")
                    continue
                if line_no <= skip:
                    continue
                yield line_no, line
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            what = "not a valid gzip file" if self.compressed and not _io_error(exc) else "read error"
            raise InputError(f"{self.path}: cannot read past line {line_no}: {what} ({exc})") from exc

    def records(self, skip: int = 0) -> Iterator[tuple[int, PaperRecord | BadLine]]:
        for line_no, line in self.lines(skip):
            if isinstance(line, BadLine):
                yield line_no, line
            elif line.strip():
                yield line_no, parse_line(line, line_no)


def _io_error(exc: BaseException) -> bool:
    """The disk failed (EIO, ENOSPC, ...), as opposed to the gzip stream being damaged."""
    return isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno is not None


def parse_line(line: bytes, line_no: int) -> PaperRecord | BadLine:
    """One line as a record, or a BadLine saying why not, whatever went wrong with it."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return BadLine(line_no, f"not valid JSON ({exc})")
    except RecursionError:
        return BadLine(line_no, "not valid JSON (nested too deeply)")
    if not isinstance(obj, dict):
        return BadLine(line_no, f"expected a JSON object, got {type(obj).__name__}")
    try:
        return record_from_json(obj)
    except (ParseError, InputError) as exc:
        return BadLine(line_no, str(exc))
    except Exception as exc:  # a record no rule foresaw must cost its line, not the import
        return BadLine(line_no, f"unreadable record ({exc.__class__.__name__}: {str(exc)[:200]})")


def _str(obj: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(f"missing {key!r}")
        return None
    if not isinstance(value, str):
        raise ParseError(f"{key!r} must be a string, got {type(value).__name__}")
    value = value.strip() if key not in ("abstract", "title", "authors") else value
    if required and not value.strip():
        raise ParseError(f"empty {key!r}")
    return value or None


def record_from_json(obj: dict[str, Any]) -> PaperRecord:
    """One snapshot object as a complete record; ParseError/InputError names what is wrong."""
    paper_id = normalize_id(_str(obj, "id", required=True) or "")
    title = _str(obj, "title", required=True)
    categories = (_str(obj, "categories", required=True) or "").split()
    versions_raw = obj.get("versions")
    if not isinstance(versions_raw, list) or not versions_raw:
        raise ParseError(f"{paper_id}: 'versions' must be a non-empty list")
    versions: list[tuple[int, dt.datetime | None, str | None]] = []
    for v in versions_raw:
        if (
            not isinstance(v, dict)
            or not isinstance(v.get("version"), str)
            or not isinstance(v.get("created"), str)
        ):
            raise ParseError(f"{paper_id}: bad entry in 'versions'")
        label = v["version"]
        if not (label.startswith("v") and label[1:].isdigit()):
            raise ParseError(f"{paper_id}: bad version label {label[:20]!r}")
        versions.append((int(label[1:]), parse_rfc822(v["created"]), None))
    versions.sort(key=lambda x: x[0])
    authors_tex = _str(obj, "authors") or ""
    authors = split_authors(authors_tex)  # arXiv's own spelling ("C.-P. Yuan")
    parsed = obj.get("authors_parsed")
    if not authors and isinstance(parsed, list) and all(isinstance(a, list) for a in parsed):
        authors = [name for a in parsed if (name := _parsed_name(a))]
    return check_record(
        PaperRecord(
            id=paper_id,
            title_tex=title or "",
            abstract_tex=_str(obj, "abstract") or "",
            authors_tex=authors_tex,
            authors=authors,
            comments=_str(obj, "comments"),
            journal_ref=_str(obj, "journal-ref"),
            doi=_str(obj, "doi"),
            report_no=_str(obj, "report-no"),
            categories=list(dict.fromkeys(categories)),
            license=_str(obj, "license"),
            submitted=versions[0][1],
            updated=versions[-1][1],
            latest_version=versions[-1][0],
            versions=versions,
        )
    )


def _parsed_name(parts: list[Any]) -> str:
    """``["Balázs", "C.", ""]`` → ``"C. Balázs"`` (keyname, forenames, suffix[, affiliation...])."""
    strs = [p if isinstance(p, str) else "" for p in parts[:3]] + ["", "", ""]
    last, first, suffix = strs[0], strs[1], strs[2]
    name = " ".join(p for p in (first, last, suffix) if p)
    return clean_name(name)
