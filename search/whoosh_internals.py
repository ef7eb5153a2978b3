"""Every use of Whoosh's private internals, in one module, with a self-test to run when the index opens.

The fast paths of :mod:`search.fastscore` (NumPy scoring) and :mod:`search.build`
(the bulk rebuild) need things Whoosh has no public API for. All of them are
here and nowhere else:

Writing
    :class:`FastCodec` is Whoosh's ``W3Codec`` whose segments are never
    assembled into a compound file and which, while Whoosh writes a segment,
    also writes two files of plain arrays beside it (the *side files*,
    described below). It subclasses ``W3FieldWriter``, ``W3PerDocWriter`` and
    ``W3Segment``, and only extends their public codec methods.
    :class:`BulkWriter` is a ``SegmentWriter`` whose posting pool is replaced
    (``SegmentWriter`` accepts a ``poolclass`` argument and ignores it) and
    whose segments are finished and published by the private
    ``_finalize_segment``, ``_close_segment``, ``_commit_toc`` and ``_finish``
    (:func:`finish_part`, :func:`abandon_part`, :func:`publish`).

Reading
    For a segment written by another codec (no side files), posting lists are
    decoded block by block from the matcher's private block state
    (:func:`decode_postings`), and field lengths and date columns from the
    column readers' private file positions (:func:`length_bytes`,
    :func:`column_values`).

The side files (format :data:`FORMAT_VERSION`), ``<segment>.fpo`` and ``<segment>.fpd``::

    b"CSFA" | u32 version | u64 header length | JSON header | arrays, each 64-byte aligned

``.fpo`` holds every posting of the segment: per field the sorted term keys
(one byte string and int64 offsets into it) and int64 start positions into two
arrays shared by all terms, the docnums (int32, ascending per term) and the
weights (float32, as Whoosh stores them: frequency times the field boost).
Terms with at least :data:`IMPACT_MIN` postings in the segment also have them
*impact-ordered* (``<field>.imp.*``): the same docnums again, grouped in classes
of equal (weight, length byte), heaviest weight first, ascending docnums within
a class, and per class its weight, length byte and end. Every posting of a
class has the same BM25 score whatever the index's statistics, so a query
scores classes, not postings, and stops reading once no unread class can reach
its top N (:mod:`search.fastscore`). A term in at least one document in
:data:`BITS_SHARE` also has a bitset of its documents, so counting the matches
of common words is a few ``and``/``or`` over bytes. A segment written before
these existed simply has no ``.imp`` arrays.
``.fpd`` holds per field the length bytes Whoosh stores (``length_to_byte``)
and per numeric column its raw values (uint64) and whether the document has
one. A posting list is one ``pread`` into a NumPy array, so the first query on
a word costs what a repeated one does: nothing is decoded.

:func:`self_test` builds a tiny index twice in a temporary folder, once with
stock Whoosh and once through this module, and compares what stock Whoosh
reads from both, then what this module reads from both against what stock
Whoosh reads. It returns a :class:`Verdict`; :func:`require` raises
:class:`InternalsChanged` instead. The fast paths use none of the above while
the verdict is negative.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import mmap
import os
import random
import struct
import tempfile
import threading
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from whoosh import fields as wfields
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    W3Codec,
    W3FieldWriter,
    W3PerDocWriter,
    W3Segment,
    _lenfield,
)
from whoosh.columns import CompressedBytesColumn, NumericColumn, PickleColumn
from whoosh.filedb.filestore import FileStorage
from whoosh.formats import Positions
from whoosh.index import Index
from whoosh.reading import IndexReader
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

from search.analysis import FastPositions, PaperAnalyzer
from search.schema import make_schema

__all__ = [
    "FORMAT_VERSION",
    "LENGTH_TABLE",
    "BulkWriter",
    "CompactPool",
    "FastCodec",
    "ImpactList",
    "InternalsChanged",
    "SegmentArrays",
    "Verdict",
    "abandon_part",
    "column_values",
    "decode_postings",
    "finish_part",
    "forget_segment_arrays",
    "length_bytes",
    "publish",
    "require",
    "segment_arrays",
    "self_test",
    "writer_codec",
]

_LOGGER = logging.getLogger(__name__)

FORMAT_VERSION = 1
POSTINGS_EXT = ".fpo"
PERDOC_EXT = ".fpd"
_MAGIC = b"CSFA"
_PREFIX = struct.Struct("<4sIQ")
_ALIGN = 64
#: A term with this many postings in a segment gets impact-ordered postings (tests lower it).
IMPACT_MIN = 4096
#: ... and a bitset of its documents when it is in 1 document in this many or more.
BITS_SHARE = 32
#: Whoosh's field length for each length byte, as float64 (BM25F divides by it).
LENGTH_TABLE = np.array([byte_to_length(i) for i in range(256)], dtype=np.float64)

Arrays = tuple[np.ndarray, np.ndarray]


# ---------------------------------------------------------------- side files: writing


def _layout(header: dict[str, Any], parts: list[tuple[str, Any]]) -> tuple[bytes, list[tuple[int, Any]]]:
    """Place ``parts`` (name, buffer) after the header; the header records [offset, bytes] of each."""
    places: dict[str, list[int]] = {}
    header["arrays"] = places
    # the header's size depends on the offsets it holds: fix the offsets with room to spare
    sizes = [(name, memoryview(buf).nbytes) for name, buf in parts]
    guess = len(json.dumps(header)) + 32 * len(parts) + 64
    while True:
        pos = _PREFIX.size + guess
        placed = []
        for (name, size), (_n, buf) in zip(sizes, parts, strict=True):
            pos = -(-pos // _ALIGN) * _ALIGN
            places[name] = [pos, size]
            placed.append((pos, buf))
            pos += size
        text = json.dumps(header).encode()
        if len(text) <= guess:
            break
        guess = len(text) + 64
    head = _PREFIX.pack(_MAGIC, FORMAT_VERSION, guess) + text.ljust(guess, b" ")
    return head, placed


def _write_side_file(
    storage: Any, segment: Any, ext: str, header: dict[str, Any], parts: list[tuple[str, Any]]
) -> None:
    head, placed = _layout(header, parts)
    f = segment.create_file(storage, ext)
    try:
        f.write(head)
        pos = len(head)
        for offset, buf in placed:
            if offset > pos:
                f.write(b"\0" * (offset - pos))
            f.write(buf)
            pos = offset + memoryview(buf).nbytes
    finally:
        f.close()


class FastSegment(W3Segment):
    """A ``W3Segment`` kept as loose files, so its side files stay where NumPy can map them.

    Whoosh deletes a segment's loose files with the segment (``clean_files``
    matches ``<index>_<id>.<ext>``), side files included.
    """

    def should_assemble(self) -> bool:
        return False


class _TermTable:
    """One field's terms in a segment: sorted keys, and where each term's postings start and end."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.starts: array[int] = array("q")
        self.end = 0


class _FieldWriter(W3FieldWriter):
    """Whoosh's field writer, also keeping each term's docnums and weights for the ``.fpo`` file."""

    def __init__(self, codec: Any, storage: Any, segment: Any) -> None:
        super().__init__(codec, storage, segment)
        self._fa_storage = storage
        self._fa_segment = segment
        self._fa_fields: dict[str, _TermTable] = {}
        self._fa_current: _TermTable | None = None
        self._fa_docs: array[int] = array("i")
        self._fa_weights: array[float] = array("f")
        self._fa_lb = bytearray()  # each posting's length byte, for the impact-ordered lists
        self._fa_codec = codec

    def start_field(self, fieldname: str, fieldobj: Any) -> None:
        super().start_field(fieldname, fieldobj)
        if fieldname in self._fa_fields:  # Whoosh writes each field's terms in one run
            raise ValueError(f"field {fieldname!r} started twice")
        self._fa_current = self._fa_fields[fieldname] = _TermTable()

    def start_term(self, btext: bytes) -> None:
        super().start_term(btext)
        table = self._fa_current
        assert table is not None
        table.keys.append(btext)
        table.starts.append(len(self._fa_docs))

    def add(self, docnum: int, weight: float, vbytes: bytes, length: int) -> None:
        super().add(docnum, weight, vbytes, length)
        self._fa_docs.append(docnum)
        self._fa_weights.append(weight)
        self._fa_lb.append(length_to_byte(length) if length else 0)

    def finish_field(self) -> None:
        super().finish_field()
        if self._fa_current is not None:
            self._fa_current.end = len(self._fa_docs)
        self._fa_current = None

    def close(self) -> None:
        super().close()
        lb = np.frombuffer(bytes(self._fa_lb), dtype=np.uint8)
        lbytes = {name: lb[t.starts[0] : t.end] for name, t in self._fa_fields.items() if t.keys}
        docs = self._fa_docs
        _write_postings_file(
            self._fa_storage, self._fa_segment, self._fa_fields, docs, self._fa_weights, lbytes,
            _doccount(self._fa_codec, self._fa_segment, max(docs, default=-1) + 1),
        )
        self._fa_fields.clear()
        self._fa_docs = array("i")
        self._fa_weights = array("f")
        self._fa_lb = bytearray()


def _doccount(codec: Any, segment: Any, least: int) -> int:
    """Documents in the segment being written: its per-document writer's count, or ``least``."""
    perdoc = getattr(codec, "perdoc", None)
    if perdoc is not None and perdoc._fa_segment is segment:
        return max(least, perdoc._fa_count)
    return least


def _impact_parts(
    name: str, bounds: np.ndarray, docs: np.ndarray, weights: np.ndarray, lbytes: np.ndarray, doccount: int
) -> tuple[list[tuple[str, Any]], dict[str, int] | None]:
    """The impact-ordered postings (and bitsets) of a field's common terms; see the module docstring.

    ``bounds`` are the field's term starts and end into ``docs``/``weights``;
    ``lbytes`` is each posting's length byte.
    """
    counts = np.diff(bounds)
    big = np.flatnonzero(counts >= IMPACT_MIN)
    if not len(big):
        return [], None
    nbytes = (doccount + 7) // 8
    ordered: list[np.ndarray] = []
    cw: list[np.ndarray] = []
    clb: list[np.ndarray] = []
    cend: list[np.ndarray] = []
    bits: list[np.ndarray] = []
    dstart, cstart, bstart = [0], [0], []
    for i in big:
        a, b = int(bounds[i]), int(bounds[i + 1])
        d, w, lb = docs[a:b], weights[a:b], lbytes[a:b]
        order = np.lexsort((d, lb, -w))  # heaviest weight, then shortest field, then docnum
        d2, w2, lb2 = d[order], w[order], lb[order]
        change = np.flatnonzero((w2[1:] != w2[:-1]) | (lb2[1:] != lb2[:-1])) + 1
        heads = np.concatenate(([0], change))
        ordered.append(d2)
        cw.append(w2[heads])
        clb.append(lb2[heads])
        cend.append(np.append(change, len(d2)).astype(np.int32))
        dstart.append(dstart[-1] + len(d2))
        cstart.append(cstart[-1] + len(heads))
        if (b - a) * BITS_SHARE >= doccount:
            mask = np.zeros(nbytes * 8, dtype=bool)
            mask[d] = True
            bstart.append(len(bits) * nbytes)
            bits.append(np.packbits(mask, bitorder="little"))
        else:
            bstart.append(-1)
    parts: list[tuple[str, Any]] = [
        (f"{name}.imp.term", big.astype(np.int64)),
        (f"{name}.imp.dstart", np.array(dstart, dtype=np.int64)),
        (f"{name}.imp.cstart", np.array(cstart, dtype=np.int64)),
        (f"{name}.imp.bstart", np.array(bstart, dtype=np.int64)),
        (f"{name}.imp.docs", np.concatenate(ordered).astype(np.int32)),
        (f"{name}.imp.cw", np.concatenate(cw).astype(np.float32)),
        (f"{name}.imp.clb", np.concatenate(clb).astype(np.uint8)),
        (f"{name}.imp.cend", np.concatenate(cend)),
        (f"{name}.imp.bits", np.concatenate(bits) if bits else np.zeros(0, np.uint8)),
    ]
    return parts, {"terms": len(big), "nbytes": nbytes}


def _write_postings_file(
    storage: Any,
    segment: Any,
    tables: dict[str, _TermTable],
    docs: Any,
    weights: Any,
    lbytes: dict[str, np.ndarray],
    doccount: int,
) -> None:
    """Write the ``.fpo`` file; ``lbytes`` is, per field, each posting's length byte (in posting order)."""
    header: dict[str, Any] = {"kind": "postings", "postings": len(docs), "fields": {}, "impact": {}}
    parts: list[tuple[str, Any]] = [("docs", docs), ("weights", weights)]
    docs_np = np.frombuffer(docs, dtype=np.int32) if len(docs) else np.zeros(0, np.int32)
    weights_np = np.frombuffer(weights, dtype=np.float32) if len(weights) else np.zeros(0, np.float32)
    for name, table in sorted(tables.items()):
        if not table.keys:
            continue
        first = table.starts[0]
        bounds_np = np.append(np.asarray(table.starts, dtype=np.int64), table.end)
        field_lb = lbytes.get(name)
        if field_lb is not None and len(field_lb) == table.end - first:
            imp, info = _impact_parts(
                name, bounds_np - first, docs_np[first : table.end], weights_np[first : table.end],
                field_lb, doccount,
            )
            if info is not None:
                header["impact"][name] = info
                parts += imp
        offsets = array("q", [0])
        acc = 0
        for k in table.keys:
            acc += len(k)
            offsets.append(acc)
        bounds = array("q", table.starts)
        bounds.append(table.end)
        header["fields"][name] = len(table.keys)
        parts += [
            (f"{name}.keys", b"".join(table.keys)),
            (f"{name}.koff", offsets),
            (f"{name}.start", bounds),
        ]
    _write_side_file(storage, segment, POSTINGS_EXT, header, parts)


class CompactPool:
    """Postings grouped by term in typed arrays: the pool :class:`BulkWriter` puts in ``SegmentWriter``.

    Whoosh's ``PostingPool`` keeps a 5-tuple (with its own bytes object) per
    posting and, past ``limitmb``, pickles sorted runs to disk and merges them
    back. Documents arrive in docnum order, so each term's postings are already
    sorted and only the term keys need sorting; it never spills (a segment's
    size is bounded by its caller instead). Its arrays are also what the
    ``.fpo`` side file is written from, without a Python call per posting.
    """

    def __init__(self) -> None:
        self.terms: dict[tuple[str, bytes], tuple[array[int], array[float], list[bytes | None]]] = {}
        self.fieldnames: set[str] = set()

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        fieldname, tbytes, docnum, weight, vbytes = item
        key = (fieldname, tbytes)
        entry = self.terms.get(key)
        if entry is None:
            entry = self.terms[key] = (array("I"), array("f"), [])
            self.fieldnames.add(fieldname)
        entry[0].append(docnum)
        entry[1].append(weight)
        entry[2].append(vbytes)

    def add_text(
        self, fieldname: str, docnum: int, fmt: FastPositions, analyzer: PaperAnalyzer, text: str
    ) -> int:
        """Add a text field's postings for ``docnum`` (what Whoosh would add one :meth:`add` call each);
        returns the field's length."""
        items, length = fmt.postings(text, analyzer)
        terms = self.terms
        for term, _freq, weight, vbytes in items:
            key = (fieldname, term.encode())
            entry = terms.get(key)
            if entry is None:
                entry = terms[key] = (array("I"), array("f"), [])
            entry[0].append(docnum)
            entry[1].append(weight)
            entry[2].append(vbytes)
        if items:
            self.fieldnames.add(fieldname)
        return length

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes | None]]:
        terms = self.terms
        for key in sorted(terms):
            fieldname, tbytes = key
            docs, weights, values = terms[key]
            for i, docnum in enumerate(docs):
                yield fieldname, tbytes, docnum, weights[i], values[i]

    def cleanup(self) -> None:
        self.terms.clear()


class _KnownLengths:
    """Field lengths for Whoosh's posting loop from the bytes the per-document writer kept.

    Whoosh reads each posting's field length back from the length column it just
    wrote (a column lookup and a decode per posting, about a tenth of a bulk
    build); here it is one list index. Values are what ``doc_field_length_reader``
    returns: the decoded length, None where the byte is 0.
    """

    def __init__(self, lengths: dict[str, array[int]], fallback: Any) -> None:
        decoded = [None] + [byte_to_length(b) for b in range(1, 256)]
        self._lists = {name: [decoded[b] for b in arr] for name, arr in lengths.items()}
        self._fallback = fallback

    def doc_field_length_reader(self, fieldname: str, default: int = 0) -> Any:
        got = self._lists.get(fieldname)
        if got is None:
            return self._fallback.doc_field_length_reader(fieldname, default)
        size = len(got)
        return lambda docnum: got[docnum] if docnum < size else None

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> Any:
        return self._fallback.doc_field_length(docnum, fieldname, default)


def _lbytes_of(field_lb: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Length bytes of ``docs``, 0 for documents past the end of ``field_lb``."""
    inside = docs < len(field_lb)
    got = np.zeros(len(docs), dtype=np.uint8)
    got[inside] = field_lb[docs[inside]]
    return got


class _PoolFieldWriter(W3FieldWriter):
    """Whoosh's field writer for a :class:`BulkWriter`: the ``.fpo`` file comes from its pool's arrays."""

    def __init__(self, codec: Any, storage: Any, segment: Any, pool: CompactPool) -> None:
        super().__init__(codec, storage, segment)
        self._fa_storage = storage
        self._fa_segment = segment
        self._fa_pool = pool
        self._fa_codec = codec

    def add_postings(self, schema: Any, lengths: Any, items: Any) -> None:
        perdoc = getattr(self._fa_codec, "perdoc", None)
        if not getattr(self._fa_codec, "direct_blocks", True) or perdoc is None or not lengths:
            if lengths and perdoc is not None:
                lengths = _KnownLengths(perdoc._fa_lengths, lengths)
            super().add_postings(schema, lengths, items)
            return
        self._add_blocks(schema, perdoc)

    def _add_blocks(self, schema: Any, perdoc: _PerDocWriter) -> None:
        """Whoosh's posting loop (``FieldWriter.add_postings``), a block at a time from the pool's arrays.

        Whoosh adds postings one Python call each (``W3PostingsWriter.add_posting``:
        asserts, appends, running maxima). Here each block's buffers are filled
        with array slices and its statistics computed over the slice, as
        ``add_posting`` would leave them, then Whoosh's own ``_write_block`` and
        ``finish_postings`` encode it: the blocks are Whoosh's bytes (the
        self-test compares the files with a stock writer's).
        """
        decoded: list[int | None] = [None] + [byte_to_length(b) for b in range(1, 256)]
        lastfn: str | None = None
        field_lb = np.zeros(0, dtype=np.uint8)
        field_bytes = b""
        for key in sorted(self._fa_pool.terms):
            fieldname, btext = key
            ids, weights, values = self._fa_pool.terms[key]
            if fieldname != lastfn:
                if lastfn is not None:
                    self.finish_field()
                self.start_field(fieldname, schema[fieldname])
                lastfn = fieldname
                known = perdoc._fa_lengths.get(fieldname)
                field_bytes = bytes(known) if known is not None else b""
                field_lb = np.frombuffer(field_bytes, dtype=np.uint8)
            self.start_term(btext)
            pw: Any = self._postwriter
            limit = pw._blocklimit
            n = len(ids)
            if n <= limit:  # one block (most terms): plain Python costs less than NumPy calls
                pw._ids = ids[:]
                pw._weights = weights[:]
                pw._values = [v for v in values if v]
                top = max(weights)
                pw._maxweight = top if top > 0 else 0
                size = len(field_bytes)
                lbs = [b for b in (field_bytes[d] if d < size else 0 for d in ids) if b]
                if lbs:
                    pw._minlength = decoded[min(lbs)]
                    pw._maxlength = decoded[max(lbs)]
                self.finish_term()
                continue
            docs = np.frombuffer(ids, dtype=np.uint32) if n else np.zeros(0, np.uint32)
            block_lb = field_lb[docs[docs < len(field_lb)]] if len(field_lb) else np.zeros(0, np.uint8)
            whole = len(block_lb) == n
            for i in range(0, n, limit):
                j = min(n, i + limit)
                if i:
                    pw._write_block()  # the previous block (add_posting writes a full block on the next add)
                pw._ids = ids[i:j]
                pw._weights = weights[i:j]
                pw._values = [v for v in values[i:j] if v]
                top = max(pw._weights)
                pw._maxweight = top if top > 0 else 0
                lb = block_lb[i:j] if whole else _lbytes_of(field_lb, docs[i:j])
                lb = lb[lb > 0]
                if len(lb):
                    pw._minlength = decoded[int(lb.min())]
                    pw._maxlength = decoded[int(lb.max())]
            self.finish_term()
        if lastfn is not None:
            self.finish_field()

    def close(self) -> None:
        super().close()  # Whoosh wrote the pool's postings; the pool is emptied after this
        tables: dict[str, _TermTable] = {}
        docs: array[int] = array("i")
        weights: array[float] = array("f")
        for (name, btext), (ids, ws, _values) in sorted(self._fa_pool.terms.items()):
            table = tables.get(name)
            if table is None:
                table = tables[name] = _TermTable()
            table.keys.append(btext)
            table.starts.append(len(docs))
            docs.frombytes(ids.tobytes())  # uint32 docnums, read back as int32
            weights.extend(ws)
            table.end = len(docs)
        perdoc = getattr(self._fa_codec, "perdoc", None)
        doccount = _doccount(self._fa_codec, self._fa_segment, max(docs, default=-1) + 1)
        lbytes: dict[str, np.ndarray] = {}
        docs_np = np.frombuffer(docs, dtype=np.int32) if len(docs) else np.zeros(0, np.int32)
        for name, table in tables.items():
            per_doc = perdoc._fa_lengths.get(name) if perdoc is not None else None
            field_docs = docs_np[table.starts[0] : table.end]
            if per_doc is None:  # no document has a length in this field
                lbytes[name] = np.zeros(len(field_docs), dtype=np.uint8)
                continue
            known = np.zeros(max(doccount, len(per_doc)), dtype=np.uint8)
            known[: len(per_doc)] = np.frombuffer(per_doc, dtype=np.uint8)
            lbytes[name] = known[field_docs]
        _write_postings_file(self._fa_storage, self._fa_segment, tables, docs, weights, lbytes, doccount)


#: Stored fields as Whoosh's W3 column (a pickle per document in deflate format, which any W3 reader
#: inflates) at level 0: deflate's "stored" blocks. Level 3 compresses each paper's hit text (about
#: ten times level 0's CPU in a quick measurement); level 0 skips that, and the index grows by the text.
_STORED_COLUMN = PickleColumn(CompressedBytesColumn(level=0))


class _PerDocWriter(W3PerDocWriter):
    """Whoosh's per-document writer, also keeping length bytes and numeric columns for the ``.fpd`` file."""

    def __init__(self, codec: Any, storage: Any, segment: Any) -> None:
        super().__init__(codec, storage, segment)
        self._fa_storage = storage
        self._fa_segment = segment
        self._fa_doc = -1
        self._fa_count = 0
        self._fa_lengths: dict[str, array[int]] = {}
        self._fa_values: dict[str, tuple[array[int], array[int]]] = {}
        self._fa_unmapped: set[str] = set()

    def _create_column(self, fieldname: str, column: Any) -> None:
        super()._create_column(fieldname, _STORED_COLUMN if fieldname == "_stored" else column)

    def start_doc(self, docnum: int) -> None:
        super().start_doc(docnum)
        self._fa_doc = docnum
        self._fa_count = docnum + 1

    def cancel_doc(self) -> None:
        super().cancel_doc()
        self._fa_count = self._fa_doc
        for arr in self._fa_lengths.values():
            del arr[self._fa_doc :]
        for values, present in self._fa_values.values():
            del values[self._fa_doc :]
            del present[self._fa_doc :]

    def add_field(self, fieldname: str, fieldobj: Any, value: Any, length: int) -> None:
        super().add_field(fieldname, fieldobj, value, length)
        if length:
            arr = self._fa_lengths.setdefault(fieldname, array("B"))
            if len(arr) < self._fa_doc:
                arr.extend(bytes(self._fa_doc - len(arr)))
            arr.append(length_to_byte(length))

    def add_column_value(self, fieldname: str, column: Any, value: Any) -> None:
        super().add_column_value(fieldname, column, value)
        if not isinstance(column, NumericColumn) or fieldname in self._fa_unmapped:
            return
        if value == column.default_value():
            return  # Whoosh's column writer stores nothing for the default either
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
            self._fa_unmapped.add(fieldname)  # not a raw unsigned long: readers use the fallback
            self._fa_values.pop(fieldname, None)
            return
        values, present = self._fa_values.setdefault(fieldname, (array("Q"), array("B")))
        if len(values) < self._fa_doc:
            gap = self._fa_doc - len(values)
            values.extend(array("Q", bytes(8 * gap)))
            present.extend(bytes(gap))
        values.append(value)
        present.append(1)

    def close(self) -> None:
        super().close()
        count = self._fa_count
        header: dict[str, Any] = {"kind": "perdoc", "doccount": count, "lengths": [], "columns": []}
        parts: list[tuple[str, Any]] = []
        for name, arr in sorted(self._fa_lengths.items()):
            arr.extend(bytes(count - len(arr)))
            header["lengths"].append(name)
            parts.append((f"{name}.len", arr))
        for name, (values, present) in sorted(self._fa_values.items()):
            gap = count - len(values)
            values.extend(array("Q", bytes(8 * gap)))
            present.extend(bytes(gap))
            header["columns"].append(name)
            parts += [(f"{name}.values", values), (f"{name}.present", present)]
        _write_side_file(self._fa_storage, self._fa_segment, PERDOC_EXT, header, parts)


class FastCodec(W3Codec):
    """``W3Codec`` writing loose segments with side files; segments it wrote read like any W3 segment.

    The codec and segment classes are pickled into the index's TOC, so this
    module's path and these class names are part of the index format.
    """

    def new_segment(self, storage: Any, indexname: str) -> FastSegment:
        return FastSegment(self, indexname)

    def __init__(
        self, *args: Any, pool: CompactPool | None = None, direct_blocks: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool  # a BulkWriter's: the side file is written from it
        self.direct_blocks = direct_blocks  # False: Whoosh's per-posting loop (the self-test compares)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["pool"] = None  # the codec is pickled into the TOC with its segments
        state.pop("perdoc", None)
        return state

    def field_writer(self, storage: Any, segment: Any) -> W3FieldWriter:
        if self.pool is not None:
            return _PoolFieldWriter(self, storage, segment, self.pool)
        return _FieldWriter(self, storage, segment)

    def per_document_writer(self, storage: Any, segment: Any) -> _PerDocWriter:
        writer = _PerDocWriter(self, storage, segment)
        self.perdoc = writer  # its segment's field writer reads lengths (bulk) and the count from it
        return writer


def writer_codec() -> W3Codec:
    """The codec for ``ix.writer(codec=writer_codec())``: ours if the self-test passed, else stock W3."""
    return FastCodec() if self_test().ok else W3Codec()


# ---------------------------------------------------------------- the bulk writer


class BulkWriter(SegmentWriter):
    """A ``SegmentWriter`` for one fresh segment, without the index lock, with a posting pool of our choice.

    Documents must be added in docnum order (as :class:`CompactPool` needs).
    It is never committed through ``commit()``: see :func:`finish_part` and
    :func:`publish`.
    """

    def __init__(self, ix: Index, pool: CompactPool, *, codec: W3Codec | None = None) -> None:
        if codec is None:
            codec = FastCodec(pool=pool)
        elif isinstance(codec, FastCodec):
            codec.pool = pool
        super().__init__(ix, _lk=False, codec=codec)
        self.pool = pool  # type: ignore[assignment]  # poolclass=... is accepted and ignored (whoosh3 3.54.0)
        self._fa_pool = pool
        schema = self.schema
        # Whoosh's add_document without its per-posting calls needs a schema without spelling fields
        # or term vectors; text fields of our analyzer go straight to the pool, dates are memoised
        self._fa_direct = not any(f.separate_spelling() or f.vector for _n, f in schema.items())
        self._fa_text = {
            name: (f.format, f.analyzer)
            for name, f in schema.items()
            if isinstance(f.format, FastPositions) and isinstance(f.analyzer, PaperAnalyzer)
            and f.indexed and f.scorable and not f.stored and not f.column_type
        }
        self._fa_dates: dict[str, dict[Any, tuple[list[Any], Any]]] = {
            name: {} for name, f in schema.items() if isinstance(f, wfields.DATETIME)
        }

    def add_document(self, **fields: Any) -> None:
        """Whoosh's ``SegmentWriter.add_document`` (whoosh3 3.54.0), less its per-posting Python calls.

        The same postings, lengths, stored values and columns in the same order
        (:func:`self_test` compares the files with a stock writer's). Boosts,
        ``_stored_`` overrides, spelling fields and vectors take Whoosh's own path.
        """
        if not self._fa_direct or any(name.startswith("_") for name in fields):
            super().add_document(**fields)
            return
        self._check_state()
        schema = self.schema
        perdoc = self.perdocwriter
        pool = self._fa_pool
        docnum = self.docnum
        fieldnames = sorted(fields)
        self._check_fields(schema, fieldnames)
        perdoc.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                text = self._fa_text.get(fieldname)
                if text is not None and isinstance(value, str):
                    perdoc.add_field(fieldname, field, None, pool.add_text(fieldname, docnum, *text, value))
                    continue
                length = 0
                items: Any
                dates = self._fa_dates.get(fieldname)
                if dates is not None:
                    items, column_value = self._date(dates, field, value)
                else:
                    items = field.index(value) if field.indexed else ()
                    column_value = None
                scorable = field.scorable
                for tbytes, freq, weight, vbytes in items:
                    if scorable:
                        length += freq
                    pool.add((fieldname, tbytes, docnum, weight * 1.0, vbytes))
                perdoc.add_field(fieldname, field, value if field.stored else None, length)
                column = field.column_type
                if column:
                    if dates is None:
                        column_value = field.to_column_value(value)
                    perdoc.add_column_value(fieldname, column, column_value)
        except ValueError:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    @staticmethod
    def _date(cache: dict[Any, tuple[list[Any], Any]], field: Any, value: Any) -> tuple[list[Any], Any]:
        """A date field's postings and column value: papers share dates, and Whoosh computes eight
        precision tiers per date."""
        key = (type(value), value)
        got = cache.get(key)
        if got is None:
            if len(cache) >= 4096:
                cache.clear()
            items = list(field.index(value)) if field.indexed else []
            got = cache[key] = (items, field.to_column_value(value) if field.column_type else None)
        return got


def finish_part(writer: SegmentWriter) -> Any:
    """Write the writer's segment (postings, columns, side files) and return it, unpublished.

    Not ``_finish()``: the temporary folder is shared with the parent's writer, which removes it.
    """
    segment = writer._finalize_segment()
    writer.is_closed = True
    return segment


def abandon_part(writer: SegmentWriter) -> None:
    """Close a part's files after a failure (its files are left for ``clean_files``)."""
    with contextlib.suppress(Exception):
        writer._close_segment()
    writer.is_closed = True


def publish(writer: SegmentWriter, segments: list[Any]) -> None:
    """Commit exactly ``segments`` as the index (dropping the old ones) and release ``writer``'s lock."""
    writer._close_segment()
    writer._commit_toc(segments)
    writer._finish()


# ---------------------------------------------------------------- side files: reading


_EMPTY_WEIGHTS = np.zeros(0, dtype=np.float32)


@dataclass
class ImpactList:
    """A common term's postings by class of equal (weight, length byte): see the module docstring."""

    weights: np.ndarray  # per class
    lbytes: np.ndarray  # per class
    ends: np.ndarray  # per class: where it ends in the ordered docnums
    size: int  # postings
    _read_docs: Any = field(repr=False)
    _read_bits: Any = field(repr=False)

    def docs(self, lo: int, hi: int) -> np.ndarray:
        """Docnums of the ordered postings ``lo:hi`` (within a class, ascending)."""
        return self._read_docs(lo, hi) if hi > lo else np.zeros(0, dtype=np.int32)

    def bits(self, size: int) -> np.ndarray | None:
        """The term's documents as ``size`` little-endian bits (packed), None if it has no bitset."""
        if self._read_bits is None:
            return None
        got = self._read_bits()
        want = (size + 7) // 8
        if len(got) >= want:
            return got[:want]
        return np.concatenate((got, np.zeros(want - len(got), dtype=np.uint8)))


class SegmentArrays:
    """The side files of one segment.

    The term directory is read through a memory map (a lookup touches a few
    pages); posting lists, length bytes and columns are read with ``pread``
    into fresh buffers, so the kernel's page cache holds the files and this
    process's resident memory only what a query uses while it runs (mapped
    pages would count in its RSS). Arrays returned are read-only.
    """

    def __init__(self, post_path: str, perdoc_path: str) -> None:
        self._post_map, post = self._open(post_path, "postings")
        self._perdoc_map, perdoc = self._open(perdoc_path, "perdoc")
        self._fds = (os.open(post_path, os.O_RDONLY), os.open(perdoc_path, os.O_RDONLY))
        weakref.finalize(self, _close_all, self._post_map, self._perdoc_map, self._fds)
        self.doccount: int = perdoc["doccount"]
        self._post_arrays: dict[str, list[int]] = post["arrays"]
        self._perdoc_arrays: dict[str, list[int]] = perdoc["arrays"]
        self._lengths = set(perdoc["lengths"])
        self._columns = set(perdoc["columns"])
        self._docs_at = self._post_arrays["docs"][0]
        self._weights_at = self._post_arrays["weights"][0]
        self._keys: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for name in post["fields"]:
            koff = self._view(self._post_map, self._post_arrays[f"{name}.koff"], np.int64)
            start = self._view(self._post_map, self._post_arrays[f"{name}.start"], np.int64)
            self._keys[name] = (koff, start, self._post_arrays[f"{name}.keys"][0])
        self._impact: dict[str, tuple[np.ndarray, int]] = {}
        for name, info in post.get("impact", {}).items():
            terms = self._view(self._post_map, self._post_arrays[f"{name}.imp.term"], np.int64)
            self._impact[name] = (terms, int(info["nbytes"]))
        self._perdoc_cache: dict[str, np.ndarray] = {}

    @staticmethod
    def _open(path: str, kind: str) -> tuple[mmap.mmap, dict[str, Any]]:
        with open(path, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        magic, version, size = _PREFIX.unpack_from(mapped, 0)
        if magic != _MAGIC or version != FORMAT_VERSION:
            mapped.close()
            raise ValueError(f"{path}: not a version {FORMAT_VERSION} side file")
        header = json.loads(mapped[_PREFIX.size : _PREFIX.size + size])
        if header.get("kind") != kind:
            mapped.close()
            raise ValueError(f"{path}: not a {kind} side file")
        return mapped, header

    @staticmethod
    def _view(mapped: mmap.mmap, place: list[int], dtype: Any) -> np.ndarray:
        offset, size = place
        return np.frombuffer(mapped, dtype=dtype, count=size // np.dtype(dtype).itemsize, offset=offset)

    @staticmethod
    def _read(fd: int, offset: int, count: int, dtype: Any) -> np.ndarray:
        size = count * np.dtype(dtype).itemsize
        buf = os.pread(fd, size, offset) if size else b""
        if len(buf) != size:
            raise OSError(f"side file truncated: {len(buf)} of {size} bytes at {offset}")
        return np.frombuffer(buf, dtype=dtype)

    def _find(self, fieldname: str, btext: bytes) -> tuple[int, int]:
        """Where a term's postings are, as (first, end) into the docnum and weight arrays."""
        return self._locate(fieldname, btext)[1:]

    def _locate(self, fieldname: str, btext: bytes) -> tuple[int, int, int]:
        """(the term's ordinal in its field or -1, first, end) into the docnum and weight arrays."""
        got = self._keys.get(fieldname)
        if got is None:
            return -1, 0, 0
        koff, start, base = got
        mapped = self._post_map
        lo, hi = 0, len(koff) - 1
        while lo < hi:  # bisect over the sorted keys
            mid = (lo + hi) // 2
            if mapped[base + int(koff[mid]) : base + int(koff[mid + 1])] < btext:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(koff) - 1 and mapped[base + int(koff[lo]) : base + int(koff[lo + 1])] == btext:
            return lo, int(start[lo]), int(start[lo + 1])
        return -1, 0, 0

    def postings(self, fieldname: str, btext: bytes) -> Arrays:
        """(docnums, weights) of a term, deleted documents included; empty if the segment lacks it."""
        a, b = self._find(fieldname, btext)
        fd = self._fds[0]
        return (
            self._read(fd, self._docs_at + 4 * a, b - a, np.int32),
            self._read(fd, self._weights_at + 4 * a, b - a, np.float32),
        )

    def lookup(self, fieldname: str, btext: bytes, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of the sorted ``cand`` have the term, their weights) without reading the whole list.

        A binary search per candidate in the mapped list touches a few pages of
        a common word's megabytes; :meth:`release` gives them back after the query.
        """
        a, b = self._find(fieldname, btext)
        if a == b or not len(cand):
            return np.zeros(len(cand), dtype=bool), _EMPTY_WEIGHTS
        mapped = self._post_map
        docs = np.frombuffer(mapped, dtype=np.int32, count=b - a, offset=self._docs_at + 4 * a)
        pos = np.searchsorted(docs, cand)
        pos[pos == len(docs)] = 0
        hit = docs[pos] == cand
        weights = np.frombuffer(mapped, dtype=np.float32, count=b - a, offset=self._weights_at + 4 * a)
        return hit, weights[pos[hit]].copy()

    def release(self) -> None:
        """Give the pages a query touched in the mapped file back (see :meth:`lookup`).

        ``MADV_DONTNEED`` on a shared file mapping only drops this process's
        page-table entries: the kernel's page cache keeps the pages, and a
        thread still reading a view of them faults them back in.
        """
        with contextlib.suppress(OSError, ValueError):
            self._post_map.madvise(mmap.MADV_DONTNEED)

    def impact(self, fieldname: str, btext: bytes) -> ImpactList | None:
        """The impact-ordered postings of a common term, None for a rarer term or an older segment."""
        got = self._impact.get(fieldname)
        if got is None:
            return None
        terms, nbytes = got
        ordinal = self._locate(fieldname, btext)[0]
        if ordinal < 0:
            return None
        k = int(np.searchsorted(terms, ordinal))
        if k == len(terms) or int(terms[k]) != ordinal:
            return None
        arrays = self._post_arrays
        fd = self._fds[0]

        def at(part: str, index: int, count: int, dtype: Any) -> np.ndarray:
            offset = arrays[f"{fieldname}.imp.{part}"][0] + index * np.dtype(dtype).itemsize
            return self._read(fd, offset, count, dtype)

        d0, d1 = (int(x) for x in at("dstart", k, 2, np.int64))
        c0, c1 = (int(x) for x in at("cstart", k, 2, np.int64))
        b0 = int(at("bstart", k, 1, np.int64)[0])
        return ImpactList(
            weights=at("cw", c0, c1 - c0, np.float32),
            lbytes=at("clb", c0, c1 - c0, np.uint8),
            ends=at("cend", c0, c1 - c0, np.int32),
            _read_docs=lambda lo, hi: at("docs", d0 + lo, hi - lo, np.int32),
            _read_bits=(lambda: at("bits", b0, nbytes, np.uint8)) if b0 >= 0 else None,
            size=d1 - d0,
        )

    def doc_frequency(self, fieldname: str, btext: bytes) -> int:
        """How many postings a term has in the segment (deleted documents included), without reading them."""
        a, b = self._find(fieldname, btext)
        return b - a

    def terms(self, fieldname: str) -> Iterator[tuple[bytes, int]]:
        """(term, document count) of every term of a field, in key order."""
        got = self._keys.get(fieldname)
        if got is None:
            return
        koff, start, base = got
        for i in range(len(koff) - 1):
            yield (
                bytes(self._post_map[base + int(koff[i]) : base + int(koff[i + 1])]),
                int(start[i + 1] - start[i]),
            )

    def _perdoc(self, name: str, dtype: Any) -> np.ndarray:
        got = self._perdoc_cache.get(name)
        if got is None:
            offset, size = self._perdoc_arrays[name]
            got = self._perdoc_cache[name] = self._read(
                self._fds[1], offset, size // np.dtype(dtype).itemsize, dtype
            )
        return got

    def length_bytes(self, fieldname: str) -> np.ndarray | None:
        """Whoosh's length byte of every document (0: no length), or None if no document has one."""
        if fieldname not in self._lengths:
            return None
        return self._perdoc(f"{fieldname}.len", np.uint8)

    def has_column(self, fieldname: str) -> bool:
        return fieldname in self._columns

    def column(self, fieldname: str) -> Arrays:
        """(raw values as uint64, whether each document has one) of a numeric column."""
        return self._perdoc(f"{fieldname}.values", np.uint64), self._perdoc(f"{fieldname}.present", np.bool_)

    def advise_willneed(self) -> None:
        """Ask the kernel to read both files in ahead (after a reboot they are not in the page cache)."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)


def _close_all(post_map: mmap.mmap, perdoc_map: mmap.mmap, fds: tuple[int, int]) -> None:
    for mapped in (post_map, perdoc_map):
        with contextlib.suppress(BufferError, ValueError):
            mapped.close()  # BufferError: a view is still alive; the map goes with it
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


_ARRAYS: OrderedDict[tuple[str, str], SegmentArrays | None] = OrderedDict()
_ARRAYS_LOCK = threading.Lock()
_ARRAYS_MAX = 64  # segments; a map costs address space, not memory


def segment_arrays(reader: IndexReader) -> SegmentArrays | None:
    """The side files of a segment reader's segment, or None if it has none (another codec wrote it)."""
    segment = reader.segment()
    folder = getattr(reader.storage(), "folder", None)
    if segment is None or folder is None or segment.is_compound():
        return None
    key = (str(folder), segment.segment_id())
    with _ARRAYS_LOCK:
        if key in _ARRAYS:
            _ARRAYS.move_to_end(key)
            return _ARRAYS[key]
    post_path = os.path.join(folder, segment.make_filename(POSTINGS_EXT))
    perdoc_path = os.path.join(folder, segment.make_filename(PERDOC_EXT))
    arrays: SegmentArrays | None = None
    if os.path.exists(post_path) and os.path.exists(perdoc_path):
        try:
            arrays = SegmentArrays(post_path, perdoc_path)
        except (OSError, ValueError, KeyError, struct.error) as exc:
            _LOGGER.warning(
                "side files of segment %s unusable (%s); decoding its postings instead", key[1], exc
            )
        if arrays is not None and arrays.doccount != reader.doc_count_all():
            _LOGGER.warning(
                "side files of segment %s cover %d documents, the segment %d; not used",
                key[1],
                arrays.doccount,
                reader.doc_count_all(),
            )
            arrays = None
    with _ARRAYS_LOCK:
        _ARRAYS[key] = arrays
        while len(_ARRAYS) > _ARRAYS_MAX:
            _ARRAYS.popitem(last=False)
    return arrays


def forget_segment_arrays() -> None:
    """Drop every mapped segment (the maps close when no array refers to them any more)."""
    with _ARRAYS_LOCK:
        _ARRAYS.clear()


# ---------------------------------------------------------------- fallback decoders (private block state)


def decode_postings(reader: Any, fieldname: str, btext: bytes) -> Arrays:
    """(docnums, weights) of a term in a segment without side files, deleted documents included.

    Whole blocks at a time from ``W3LeafMatcher``'s private block state
    (``_read_data``, ``_data``, ``_read_weights``, ``_weights``,
    ``_next_block``, ``_atend``); Whoosh's public ``next()`` costs a Python call
    per posting. Each block still unpickles its positions: that is the cost
    the side files remove.
    """
    if (fieldname, btext) not in reader:
        return np.empty(0, np.int32), np.empty(0, np.float32)
    m = reader._terms.matcher(fieldname, btext, reader.schema[fieldname].format)
    ids_parts: list[np.ndarray] = []
    w_parts: list[np.ndarray] = []
    if hasattr(m, "_read_data") and hasattr(m, "_next_block"):
        while not m._atend and m.is_active():
            if m._data is None:
                m._read_data()
            m._read_weights()
            deltas = np.asarray(m._data[0], dtype=np.int64)  # docnums are delta-coded
            ids_parts.append(np.cumsum(deltas).astype(np.int32))
            weights = m._weights
            w_parts.append(np.asarray(weights, dtype=np.float32))
            m._next_block()
    else:  # postings inlined in the term info (a term in very few documents)
        ids, ws = [], []
        while m.is_active():
            ids.append(m.id())
            ws.append(m.weight())
            m.next()
        ids_parts.append(np.asarray(ids, dtype=np.int32))
        w_parts.append(np.asarray(ws, dtype=np.float32))
    docs = np.concatenate(ids_parts) if ids_parts else np.empty(0, np.int32)
    weights_arr = np.concatenate(w_parts) if w_parts else np.empty(0, np.float32)
    return docs, weights_arr


def _raw_column(colreader: Any, count: int) -> bytes:
    """A fixed-width column's bytes for ``count`` documents, the missing tail filled with its default."""
    inner = colreader.raw_column() if hasattr(colreader, "raw_column") else colreader
    width = inner._fixedlen
    written = min(inner._count, count)
    raw = inner._dbfile.get(inner._basepos, written * width) if written else b""
    return raw + inner._defaultbytes * (count - written)


def length_bytes(reader: Any, fieldname: str) -> np.ndarray | None:
    """Whoosh's length byte of every document of a segment (0: none), or None without a length column."""
    perdoc = reader._perdoc
    lenfield = _lenfield(fieldname)
    if not perdoc.has_column(lenfield):
        return None
    col = perdoc.column_reader(lenfield, LENGTHS_COLUMN)
    count = reader.doc_count_all()
    return np.frombuffer(_raw_column(col, count), dtype=np.uint8)


def column_values(reader: IndexReader, fieldname: str) -> Arrays | None:
    """(raw uint64 values, presence) of a 64-bit numeric column; None if the field has no such column."""
    fieldobj = reader.schema[fieldname]
    column = fieldobj.column_type
    if not isinstance(column, NumericColumn) or column._typecode not in "qQ":
        return None
    count = reader.doc_count_all()
    if not reader.has_column(fieldname):
        return np.zeros(count, np.uint64), np.zeros(count, np.bool_)
    col = reader.column_reader(fieldname, translate=False)
    raw = np.frombuffer(_raw_column(col, count), dtype=">" + column._typecode)
    default = column.default_value()
    present = raw != default
    if column._typecode == "q" and bool((raw[present] < 0).any()):
        return None
    return raw.astype(np.uint64), present


# ---------------------------------------------------------------- self-test


class InternalsChanged(RuntimeError):
    """The installed Whoosh no longer behaves as this module assumes; the fast paths must stay off."""


@dataclass
class Verdict:
    ok: bool
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # comparisons made

    def __str__(self) -> str:
        if self.ok:
            return f"Whoosh internals as expected ({self.checked} comparisons)"
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        return "Whoosh internals changed: " + "; ".join(self.problems[:5]) + more


_VERDICT: Verdict | None = None
_BLOCK = 8  # postings per block in the self-test's indexes (Whoosh's default is 128)
_VERDICT_LOCK = threading.Lock()
_WORDS = (
    "graph neural network model learning quantum spin field energy data robust sparse kernel "
    "bayesian inference attention transformer diffusion lattice galaxy schrödinger naïve images"
).split()


def _self_test_docs(rng: random.Random, n: int, start: int) -> list[dict[str, Any]]:
    docs = []
    for i in range(start, start + n):
        words = rng.choices(_WORDS, k=rng.randint(1, 30))
        if i % 7 == 0:
            words = words * 6  # long: the length bytes are lossy there
        doc: dict[str, Any] = {
            "id": f"t{i:04d}",
            "title": " ".join(rng.choices(_WORDS, k=rng.randint(1, 6))) + " common",
            "abstract": "" if i % 23 == 0 else "Common " + " ".join(words),
            "authors": f"A{i % 5} Müller, B{i % 3} Li",
            "categories": rng.choice(["cs.lg cs", "quant-ph", "astro-ph.co astro-ph"]),
        }
        if i % 4:
            doc["announced"] = dt.datetime(2020, 1, 1) + dt.timedelta(days=300 * (i % 3), hours=i % 2)
        if i % 3:
            doc["updated"] = dt.datetime(2021, 6, 1) + dt.timedelta(days=i % 2)
        docs.append(doc)
    return docs


def _stock_postings(reader: IndexReader, fieldname: str, btext: bytes) -> list[tuple[int, float, bytes]]:
    """A term's live postings read the public way (the matcher skips deleted documents)."""
    out = []
    m = reader.postings(fieldname, btext)
    while m.is_active():
        out.append((m.id(), m.weight(), m.value()))
        m.next()
    return out


def _logical(ix: Index) -> dict[str, Any]:
    """What stock Whoosh reads from an index, keyed by stored id (docnums may differ between builds)."""
    out: dict[str, Any] = {}
    with ix.searcher() as s:
        reader = s.reader()
        ids = {docnum: stored["id"] for docnum, stored in reader.iter_docs()}
        schema = reader.schema
        out["doc_count"] = reader.doc_count()
        for name in schema.names():
            fieldobj = schema[name]
            if fieldobj.scorable:
                out[f"{name}/field_length"] = reader.field_length(name)
                out[f"{name}/lengths"] = {ids[d]: reader.doc_field_length(d, name) for d in ids}
            if fieldobj.column_type is not None and reader.has_column(name):
                col = reader.column_reader(name, translate=False)
                out[f"{name}/column"] = {ids[d]: col[d] for d in ids}
            if not fieldobj.indexed:
                continue
            for btext in reader.lexicon(name):
                postings = _stock_postings(reader, name, btext)
                out[f"{name}/{btext!r}"] = (
                    reader.doc_frequency(name, btext),
                    reader.frequency(name, btext),
                    sorted((ids[d], w, v) for d, w, v in postings),
                )
        out["stored"] = {stored["id"]: stored for _d, stored in reader.iter_docs()}
    return out


def _compare_decoders(ix: Index, problems: list[str], sides_expected: bool) -> int:
    """This module's readers against stock Whoosh's, segment by segment; returns comparisons made."""
    checked = 0
    with ix.searcher() as s:
        for sub, _offset in s.leaf_searchers():
            reader = sub.reader()
            seg = reader.segment().segment_id()
            count = reader.doc_count_all()
            deleted = reader.deleted_docs_set
            arrays = segment_arrays(reader)
            if sides_expected and arrays is None:
                problems.append(f"segment {seg}: no side files")
            for name in reader.schema.names():
                fieldobj = reader.schema[name]
                if fieldobj.scorable:
                    stock = [reader.doc_field_length(d, name) or 0 for d in range(count)]
                    got = [length_bytes(reader, name)] + ([arrays.length_bytes(name)] if arrays else [])
                    for way, lb in zip(("fallback", "side file"), got, strict=False):
                        mine = [0] * count if lb is None else LENGTH_TABLE[lb].tolist()
                        if mine != stock:
                            problems.append(f"segment {seg}: {way} lengths of {name} differ")
                        checked += 1
                if isinstance(fieldobj.column_type, NumericColumn) and reader.has_column(name):
                    col = reader.column_reader(name, translate=False)
                    default = fieldobj.column_type.default_value()
                    stock_col = [(col[d], col[d] != default) for d in range(count)]
                    ways = [("fallback", column_values(reader, name))]
                    if arrays is not None:
                        ways.append(("side file", arrays.column(name) if arrays.has_column(name) else None))
                    for way, values in ways:
                        if values is None:
                            problems.append(f"segment {seg}: {way} column {name} unreadable")
                            continue
                        mine_col = [
                            (int(v) if p else default, bool(p))
                            for v, p in zip(values[0].tolist(), values[1].tolist(), strict=True)
                        ]
                        if mine_col != stock_col:
                            problems.append(f"segment {seg}: {way} column {name} differs")
                        checked += 1
                if not fieldobj.indexed:
                    continue
                for btext in reader.lexicon(name):
                    stock_p = [(d, w) for d, w, _v in _stock_postings(reader, name, btext)]
                    decoded = [("fallback", decode_postings(reader, name, btext))]
                    if arrays is not None:
                        decoded.append(("side file", arrays.postings(name, btext)))
                    for way, (docs, weights) in decoded:
                        mine_p = [
                            (d, w)
                            for d, w in zip(docs.tolist(), weights.tolist(), strict=True)
                            if d not in deleted
                        ]
                        if mine_p != stock_p:
                            problems.append(f"segment {seg}: {way} postings of {name}:{btext!r} differ")
                        checked += 1
                if arrays is not None:
                    stock_terms = [(t, reader.doc_frequency(name, t)) for t in reader.lexicon(name)]
                    if list(arrays.terms(name)) != stock_terms:
                        problems.append(f"segment {seg}: side file terms of {name} differ")
                    checked += 1
    return checked


def _compare_positions(schema: Any, problems: list[str]) -> int:
    """Each text field's format against stock ``Positions`` on the same text and analyzer."""
    checked = 0
    text = "Graph graphs of the Schrödinger images; naïve image graph (a) x"
    for name in schema.names():
        fieldobj = schema[name]
        fmt = fieldobj.format
        if not isinstance(fmt, Positions) or type(fmt) is Positions:
            continue
        stock = Positions(field_boost=fmt.field_boost)
        mine = list(fmt.word_values(text, fieldobj.analyzer, mode="index"))
        ref = list(stock.word_values(text, fieldobj.analyzer, mode="index"))
        if mine != ref:
            problems.append(f"{name}: {type(fmt).__name__}.word_values differs from Positions.word_values")
        checked += 1
    return checked


def _run_self_test(schema: Any) -> Verdict:
    problems: list[str] = []
    checked = 0
    rng = random.Random(20240505)
    first = _self_test_docs(rng, 40, 0)  # "common" in all: several blocks of BLOCK postings
    second = _self_test_docs(rng, 8, 40)
    changed = _self_test_docs(random.Random(7), 4, 20)
    with tempfile.TemporaryDirectory(prefix="coolstove-selftest-") as tmp:
        stock_dir, ours_dir = os.path.join(tmp, "stock"), os.path.join(tmp, "ours")
        os.mkdir(stock_dir)
        os.mkdir(ours_dir)
        stock = FileStorage(stock_dir).create_index(schema, indexname="t")
        ours = FileStorage(ours_dir).create_index(schema, indexname="t")
        try:
            # stock: one ordinary commit
            w = stock.writer(codec=W3Codec(blocklimit=_BLOCK))
            for doc in first:
                w.add_document(**doc)
            w.commit(merge=False)
            # ours: two bulk parts published at once
            lock = ours.writer()
            parts = []
            for lo, hi in ((0, 20), (20, 40)):
                bw = BulkWriter(ours, CompactPool(), codec=FastCodec(blocklimit=_BLOCK))
                for doc in first[lo:hi]:
                    bw.add_document(**doc)
                parts.append(finish_part(bw))
            publish(lock, parts)
            # both: a later commit of updates and deletions through an ordinary writer
            for ix, codec in ((stock, W3Codec(blocklimit=_BLOCK)), (ours, FastCodec(blocklimit=_BLOCK))):
                w = ix.writer(codec=codec)
                for doc in second:
                    w.add_document(**doc)
                for doc in changed:
                    w.update_document(**doc)
                w.delete_by_term("id", "t0005")
                w.delete_by_term("id", "t0039")
                w.commit(merge=False)
            if _logical(stock) != _logical(ours):
                problems.append("an index built through this module reads differently from a stock-built one")
            checked += 1
            checked += _compare_decoders(ours, problems, sides_expected=True)
            checked += _compare_decoders(stock, problems, sides_expected=False)
            # both: merged into one segment (the merge path of the codec's writers)
            stock.writer(codec=W3Codec(blocklimit=_BLOCK)).commit(optimize=True)
            ours.writer(codec=FastCodec(blocklimit=_BLOCK)).commit(optimize=True)
            if _logical(stock) != _logical(ours):
                problems.append("a segment merged through this module's codec reads differently")
            checked += 1
            checked += _compare_decoders(ours, problems, sides_expected=True)
            checked += _compare_block_writers(schema, first, tmp, problems)
        except Exception as exc:  # any failure of the internals used is the verdict, not a crash
            problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            for ix in (stock, ours):
                with contextlib.suppress(Exception):
                    ix.close()
            forget_segment_arrays()
    checked += _compare_positions(schema, problems)
    return Verdict(ok=not problems, problems=problems, checked=checked)


def _compare_block_writers(schema: Any, docs: list[dict[str, Any]], tmp: str, problems: list[str]) -> int:
    """A bulk part's postings and terms files, written a block at a time and by Whoosh's loop: same bytes."""
    files: list[dict[str, bytes]] = []
    for direct in (True, False):
        folder = os.path.join(tmp, f"blocks-{direct}")
        os.mkdir(folder)
        ix = FileStorage(folder).create_index(schema, indexname="t")
        try:
            lock = ix.writer()
            bw = BulkWriter(ix, CompactPool(), codec=FastCodec(blocklimit=_BLOCK, direct_blocks=direct))
            for doc in docs:
                bw.add_document(**doc)
            publish(lock, [finish_part(bw)])
        finally:
            ix.close()
        got = {}
        for name in os.listdir(folder):
            ext = name.rsplit(".", 1)[-1]
            if ext in (W3Codec.POSTS_EXT.lstrip("."), W3Codec.TERMS_EXT.lstrip(".")):
                with open(os.path.join(folder, name), "rb") as fh:
                    got[ext] = fh.read()
        files.append(got)
    if not files[0] or files[0] != files[1]:
        problems.append("posting blocks written from the pool's arrays differ from Whoosh's own")
    return 1


def self_test(schema: Any = None, *, force: bool = False) -> Verdict:
    """Check once per process (``force`` to check again) that the internals behave as assumed.

    ``schema`` defaults to the paper index's. Takes about a tenth of a second.
    Run it when the index opens and turn the fast paths off, with a warning, if
    the verdict is not ``ok``; :func:`search.fastscore.fast_search` and
    :func:`search.build.build_segments` consult it themselves too.
    """
    global _VERDICT
    with _VERDICT_LOCK:
        if _VERDICT is None or force or schema is not None:
            if schema is None:
                schema = make_schema()
            verdict = _run_self_test(schema)
            if not verdict.ok:
                _LOGGER.error("%s; the NumPy scoring and the bulk rebuild are off", verdict)
            _VERDICT = verdict
        return _VERDICT


def require(schema: Any = None) -> None:
    """:func:`self_test`, raising :class:`InternalsChanged` when it fails."""
    verdict = self_test(schema)
    if not verdict.ok:
        raise InternalsChanged(str(verdict))
