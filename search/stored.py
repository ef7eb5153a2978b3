"""A page of hits' stored fields, read with ``pread`` from the segments' column files by every thread.

Whoosh's ``stored_fields`` opens each segment's stored column per reader, and
the daemon has a searcher (so readers) per worker thread: the first hit each
thread shows from a 450,000-paper segment read that column's whole offset and
length tables (4 ms), for every segment and every thread, in the first queries
after a start. Here a loose segment's ``_stored.col`` (Whoosh's
``VarBytesColumn`` layout: the values, then the lengths and offsets as
big-endian arrays, their type codes and ``X``) is opened once per process; a
document costs three ``pread`` calls and no table in memory. Values are
inflated and unpickled as Whoosh's ``PickleColumn(CompressedBytesColumn())``
writes them. A compound segment, or a column without stored offsets (a
segment under 32,768 documents), is read by Whoosh as before.
"""

from __future__ import annotations

import bisect
import os
import pickle
import threading
import weakref
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from whoosh.codec.whoosh3 import W3Codec
from whoosh.reading import IndexReader

__all__ = ["StoredColumn", "stored_fields_of"]

_OPEN_MAX = 64  # columns kept open (a merge replaces segments; older ones close when unused)
_open: OrderedDict[str, StoredColumn | None] = OrderedDict()
_lock = threading.Lock()


class StoredColumn:
    """One loose segment's stored-field column; safe to share between threads (``pread`` only)."""

    def __init__(self, path: str, doccount: int) -> None:
        fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, fd)
        self._fd = fd
        size = os.fstat(fd).st_size
        tail = os.pread(fd, 3, size - 3) if size >= 3 else b""
        if len(tail) != 3 or tail[2:] != b"X":
            raise ValueError(f"{path}: no stored offsets")
        self._lens = array(chr(tail[0]))
        self._offs = array(chr(tail[1]))
        self._offs_at = size - 3 - doccount * self._offs.itemsize
        self._lens_at = self._offs_at - doccount * self._lens.itemsize
        if self._lens_at < 0:
            raise ValueError(f"{path}: shorter than its {doccount} documents' tables")
        self.doccount = doccount

    def _item(self, table: array[int], at: int, docnum: int) -> int:
        size = table.itemsize
        raw = os.pread(self._fd, size, at + docnum * size)
        if len(raw) != size:
            raise OSError("stored column truncated")
        one = array(table.typecode, raw)
        one.byteswap()  # Whoosh writes its arrays big-endian
        return one[0]

    def get(self, docnum: int) -> dict[str, Any]:
        if not 0 <= docnum < self.doccount:
            raise IndexError(docnum)
        length = self._item(self._lens, self._lens_at, docnum)
        if not length:
            return {}
        offset = self._item(self._offs, self._offs_at, docnum)
        raw = os.pread(self._fd, length, offset)
        if len(raw) != length:
            raise OSError("stored column truncated")
        value = pickle.loads(zlib.decompress(raw))  # noqa: S301 - our own index's column, as Whoosh reads it
        return value if isinstance(value, dict) else {}


def _column(segreader: Any) -> StoredColumn | None:
    """The segment's shared column, or None where Whoosh must read it (compound, small, not on disk)."""
    segment = getattr(segreader, "_segment", None)
    folder = getattr(getattr(segreader, "_storage", None), "folder", None)
    if segment is None or folder is None or segment.is_compound():
        return None
    path = os.path.join(folder, W3Codec.column_filename(segment, "_stored"))
    with _lock:
        if path in _open:
            _open.move_to_end(path)
            return _open[path]
        try:
            column: StoredColumn | None = StoredColumn(path, segreader.doc_count_all())
        except (OSError, ValueError):
            column = None
        _open[path] = column
        while len(_open) > _OPEN_MAX:
            _open.popitem(last=False)  # a thread still holding it keeps its descriptor open
        return column


def stored_fields_of(reader: IndexReader) -> Callable[[int], dict[str, Any]]:
    """``stored_fields(docnum)`` for ``reader`` (one segment's or a MultiReader), shared columns first."""
    leaves = list(reader.leaf_readers())
    starts = [offset for _, offset in leaves]
    columns = [_column(sub) for sub, _ in leaves]

    def get(docnum: int) -> dict[str, Any]:
        i = bisect.bisect_right(starts, docnum) - 1
        sub, start = leaves[i]
        column = columns[i]
        if column is None:
            return dict(sub.stored_fields(docnum - start))
        return column.get(docnum - start)

    return get
