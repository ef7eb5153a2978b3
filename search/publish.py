"""Publishing committed index generations for read-only ``coolstove web`` processes.

Whoosh never changes a segment file once written, and a commit is one new TOC
file naming its segments: a *generation* is that TOC plus the files of the
segments it names (with our side files, ``<segment>.fpo`` and ``.fpd``, which
carry the segment's name). :func:`publish` lays the newest one out as an index
folder of its own, so :class:`search.index.SearchIndex` opens it unchanged::

    publish_dir/
      CURRENT                          the name of the generation to read, e.g. "00000042\\n"
      generations/00000042/
        coolstove-index.json           the schema version (a copy)
        coolstove-publish.json         the manifest: every file and its size, the paper count
        whoosh/_papers_17.toc, whoosh/papers_<segment>.*

Names count publications (Whoosh's own generation numbers start again when an
index is recreated). A generation is built in ``generations/<name>.tmp``,
hard-linked from the index (copied across file systems; a segment the previous
generation already holds is linked from there), fsynced, renamed into place,
and only then named by ``CURRENT`` (a temporary file and ``os.replace``).
Nothing half-written is ever named; a crash leaves a ``.tmp`` folder that the
next publication removes. Old generations are removed once ``keep`` newer ones
exist and ``grace_s`` has passed since they stopped being current, so a reader
that has just opened one keeps reading it. Readers (:mod:`search.replica`)
only read: :func:`read_current` and :func:`read_manifest` check what a
(possibly copied) folder holds, file by file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC

from core.errors import SearchError
from search.lifecycle import INDEX_NAME, STAMP

__all__ = [
    "CURRENT",
    "GENERATIONS",
    "GRACE_S",
    "KEEP",
    "MANIFEST",
    "Manifest",
    "PublishError",
    "publish",
    "read_current",
    "read_manifest",
]

_LOGGER = logging.getLogger(__name__)

CURRENT = "CURRENT"
GENERATIONS = "generations"
MANIFEST = "coolstove-publish.json"
LOCK = ".publish.lock"  # one publisher at a time (readers never take it)
KEEP = 3  # generations kept whatever their age (the current one among them)
GRACE_S = 600.0  # an older generation stays this long after it stopped being current
FORMAT = 1
NAME_RE = re.compile(r"[0-9]{1,18}")
_ATTEMPTS = 3  # a file removed under us (a commit in another thread) means: take the newer generation
_DIR_MODE, _FILE_MODE = 0o755, 0o644  # the published folder is for readers, whatever the umask


class PublishError(SearchError):
    """A generation could not be published, or a published one is not usable."""


@dataclass(frozen=True)
class Manifest:
    """What ``coolstove-publish.json`` says about a generation."""

    name: str
    whoosh_generation: int
    documents: int
    published: float  # seconds since the epoch
    toc_sha256: str
    files: dict[str, int]  # path inside the generation -> size in bytes

    def to_json(self) -> str:
        return json.dumps(
            {"format": FORMAT, "name": self.name, "whoosh_generation": self.whoosh_generation,
             "documents": self.documents, "published": self.published, "toc_sha256": self.toc_sha256,
             "files": self.files},
            indent=1, sort_keys=True,
        )


@dataclass(frozen=True)
class _Snapshot:
    """The index's newest generation as found in its folder."""

    whoosh_generation: int
    toc_name: str
    toc: bytes
    segment_files: list[str]
    documents: int


# ---------------------------------------------------------------- reading (never writes)


def read_current(publish_dir: Path) -> str | None:
    """The generation ``CURRENT`` names; None when nothing is published. A malformed file raises."""
    try:
        with (publish_dir / CURRENT).open("rb") as fh:
            raw = fh.read(65)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PublishError(f"{publish_dir / CURRENT} cannot be read: {exc}") from exc
    name = raw.decode("ascii", "replace").strip()
    if len(raw) > 64 or not NAME_RE.fullmatch(name):
        raise PublishError(f"{publish_dir / CURRENT} does not name a generation: {raw[:40]!r}")
    return name


def read_manifest(gen_dir: Path, *, check_files: bool = True) -> Manifest:
    """The manifest of a generation folder; with ``check_files``, every file it lists must be there in
    full (a generation copied in part, or damaged, is refused here rather than in a search)."""
    try:
        data = json.loads((gen_dir / MANIFEST).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise PublishError(f"{gen_dir / MANIFEST}: format {data.get('format')!r}, not {FORMAT}")
        manifest = Manifest(
            name=str(data["name"]), whoosh_generation=int(data["whoosh_generation"]),
            documents=int(data["documents"]), published=float(data["published"]),
            toc_sha256=str(data["toc_sha256"]), files={str(k): int(v) for k, v in data["files"].items()},
        )
    except FileNotFoundError as exc:
        raise PublishError(f"{gen_dir} is not a published generation (no {MANIFEST})") from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PublishError(f"{gen_dir / MANIFEST} is unreadable: {exc.__class__.__name__}: {exc}") from exc
    if manifest.name != gen_dir.name:
        raise PublishError(f"{gen_dir} holds generation {manifest.name!r}, not {gen_dir.name!r}")
    if check_files:
        for rel, size in manifest.files.items():
            path = gen_dir / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                raise PublishError(f"{gen_dir / MANIFEST} lists a file outside the generation: {rel!r}")
            try:
                info = os.lstat(path)  # a symlink (out of the generation, or anywhere) is not a file of it
            except OSError as exc:
                raise PublishError(f"generation {gen_dir.name} is incomplete: {rel}: {exc.strerror}") from exc
            if not stat.S_ISREG(info.st_mode):
                raise PublishError(f"generation {gen_dir.name}: {rel} is not a regular file")
            found = info.st_size
            if found != size:
                raise PublishError(f"generation {gen_dir.name} is incomplete: {rel}: {found} of {size} bytes")
        # Whoosh opens the newest TOC it finds: a stray one the manifest does not list would be served
        for toc in sorted((gen_dir / "whoosh").glob("*.toc")):
            if f"whoosh/{toc.name}" not in manifest.files:
                raise PublishError(
                    f"generation {gen_dir.name} holds {toc.name}, which its manifest does not list"
                )
    return manifest


# ---------------------------------------------------------------- publishing


def publish(
    index_dir: Path,
    publish_dir: Path,
    *,
    keep: int = KEEP,
    grace_s: float = GRACE_S,
    clock: Callable[[], float] = time.time,
) -> str:
    """Publish the index's newest committed generation (if not published yet); returns its name.

    Blocking; call it where the index commits (after each commit of the owning process) or when
    nothing else writes the index. Raises :class:`PublishError`.
    """
    if keep < 2:
        raise ValueError("keep at least 2 generations: a reader may have just opened the previous one")
    gens = publish_dir / GENERATIONS
    try:
        for d in (publish_dir, gens):
            if not d.is_dir():  # made here: readable by the web tier (an existing folder keeps its mode)
                d.mkdir(parents=True)
                d.chmod(_DIR_MODE)
        with _exclusive(publish_dir / LOCK):
            _remove_leftovers(gens)
            current = _current_manifest(publish_dir)
            name = _publish_newest(index_dir / "whoosh", index_dir / STAMP, gens, current, clock)
            if current is None or name != current.name:
                _write_current(publish_dir, name)
                _LOGGER.info("published index generation %s in %s", name, publish_dir)
            _prune(gens, name, keep, grace_s, clock())
            return name
    except OSError as exc:
        raise PublishError(f"publishing the index in {publish_dir} failed: {exc}") from exc


def _publish_newest(
    whoosh_dir: Path, stamp: Path, gens: Path, current: Manifest | None, clock: Callable[[], float]
) -> str:
    for attempt in range(_ATTEMPTS):
        name = _next_name(gens, current)
        tmp = gens / f"{name}.tmp"
        try:
            snap = _snapshot(whoosh_dir)
            digest = hashlib.sha256(snap.toc).hexdigest()
            if current is not None and current.toc_sha256 == digest:
                return current.name  # already published (a commit that changed nothing, a restart)
            previous = gens / current.name if current else None
            _build(tmp, name, whoosh_dir, stamp, snap, digest, previous, clock)
        except FileNotFoundError:
            shutil.rmtree(tmp, ignore_errors=True)
            if attempt == _ATTEMPTS - 1:
                raise
            continue  # a newer commit removed a segment of the one we took: take that one
        os.rename(tmp, gens / name)
        _fsync_dir(gens)
        return name
    raise AssertionError("unreachable")  # pragma: no cover


def _snapshot(whoosh_dir: Path) -> _Snapshot:
    storage = FileStorage(str(whoosh_dir), supports_mmap=False, readonly=True)
    try:
        toc = TOC.read(storage, INDEX_NAME)
    except FileNotFoundError:
        raise  # removed by a commit between listing and reading: the caller takes the newer one
    except Exception as exc:  # no index, or one Whoosh cannot read: nothing to publish
        raise PublishError(f"no readable index in {whoosh_dir}: {exc.__class__.__name__}: {exc}") from exc
    toc_name = f"_{INDEX_NAME}_{toc.generation}.toc"
    toc_path = whoosh_dir / toc_name
    if not toc_path.is_file():
        raise PublishError(f"{toc_path} is missing: Whoosh's file naming is not the one this code knows")
    files: list[str] = []
    documents = 0
    for segment in toc.segments:
        documents += int(segment.doc_count())
        files.extend(segment.list_files(storage))
    return _Snapshot(toc.generation, toc_name, toc_path.read_bytes(), sorted(files), documents)


def _build(
    tmp: Path,
    name: str,
    whoosh_dir: Path,
    stamp: Path,
    snap: _Snapshot,
    digest: str,
    previous: Path | None,
    clock: Callable[[], float],
) -> None:
    (tmp / "whoosh").mkdir(parents=True)
    files: dict[str, int] = {}
    for fname in snap.segment_files:
        before = previous / "whoosh" / fname if previous else None
        files[f"whoosh/{fname}"] = _place(whoosh_dir / fname, tmp / "whoosh" / fname, before)
    # the TOC as read (and hashed) above, and the stamp: small, copied (the stamp is rewritten in place)
    files[f"whoosh/{snap.toc_name}"] = _write_file(tmp / "whoosh" / snap.toc_name, snap.toc)
    files[STAMP] = _write_file(tmp / STAMP, stamp.read_bytes())
    manifest = Manifest(name, snap.whoosh_generation, snap.documents, clock(), digest, files)
    _write_file(tmp / MANIFEST, manifest.to_json().encode())
    for d in (tmp / "whoosh", tmp):
        d.chmod(_DIR_MODE)
        _fsync_dir(d)


def _place(src: Path, dst: Path, previous: Path | None) -> int:
    """Link (or copy) one segment file into the new generation; returns its size."""
    size = src.stat().st_size
    if previous is not None:
        try:
            if previous.stat().st_size == size:  # segment files never change: the same name is the same file
                os.link(previous, dst)
                return size
        except FileNotFoundError:
            pass
    try:
        os.link(src, dst)
    except OSError as exc:  # another file system (EXDEV), or links refused: copy
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copyfile(src, dst)
    os.chmod(dst, _FILE_MODE)  # a link shares the index's file: it becomes readable too (in its 0700 folder)
    _fsync_file(dst)  # Whoosh does not fsync its files; a published generation must survive a crash
    return size


def _write_file(path: Path, data: bytes) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        os.write(fd, data)
        os.fchmod(fd, _FILE_MODE)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(data)


def _write_current(publish_dir: Path, name: str) -> None:
    tmp = publish_dir / f"{CURRENT}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    _write_file(tmp, f"{name}\n".encode())
    os.replace(tmp, publish_dir / CURRENT)
    _fsync_dir(publish_dir)


def _current_manifest(publish_dir: Path) -> Manifest | None:
    """The published generation, or None when there is none (or it is unusable: publish anew)."""
    try:
        name = read_current(publish_dir)
        return None if name is None else read_manifest(publish_dir / GENERATIONS / name)
    except PublishError as exc:
        _LOGGER.warning("the published generation is unusable (%s); publishing a new one", exc)
        return None


def _names(gens: Path) -> list[str]:
    """Published generations, oldest first."""
    return sorted((p.name for p in gens.iterdir() if NAME_RE.fullmatch(p.name) and p.is_dir()), key=int)


def _next_name(gens: Path, current: Manifest | None) -> str:
    numbers = [int(n) for n in _names(gens)] + ([int(current.name)] if current else [])
    return f"{max(numbers, default=0) + 1:08d}"


def _remove_leftovers(gens: Path) -> None:
    """``.tmp`` (a publication that died) and ``.old`` (a removal that did) folders: under the lock,
    no publication is running."""
    for p in gens.iterdir():
        if p.suffix in (".tmp", ".old") and NAME_RE.fullmatch(p.stem):
            shutil.rmtree(p, ignore_errors=True)


def _prune(gens: Path, current: str, keep: int, grace_s: float, now: float) -> None:
    names = [n for n in _names(gens) if int(n) <= int(current)]
    old = names[: max(0, len(names) - keep)]
    for i, name in enumerate(old):
        successor = gens / names[i + 1]
        try:
            superseded = read_manifest(successor, check_files=False).published
        except PublishError:
            superseded = successor.stat().st_mtime
        if now - superseded < grace_s:
            break  # the later ones were superseded later still
        doomed = gens / f"{name}.old"
        os.rename(gens / name, doomed)  # gone from the listing at once, deleted after
        shutil.rmtree(doomed, ignore_errors=True)
        _LOGGER.debug("removed published generation %s", name)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
