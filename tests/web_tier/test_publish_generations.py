"""Publishing committed index generations (search.publish): what a reader finds is always whole."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from web_tier_kit import add_papers, filled_index, paper_id, word

import search.publish as publish_mod
from core.config import Config, SearchConfig
from daemon.publishing import attach
from search.index import SearchIndex
from search.publish import (
    CURRENT,
    FORMAT,
    GENERATIONS,
    MANIFEST,
    PublishError,
    publish,
    read_current,
    read_manifest,
)


def _ids(index: SearchIndex, query: str) -> list[str]:
    result = index.search(query)
    assert result.ok, result.error
    return [h.id for h in result.hits]


def test_a_published_generation_opens_read_only_and_answers_as_the_index_does(tmp_path: Path) -> None:
    db, index = filled_index(tmp_path, range(5))
    pub = tmp_path / "pub"
    old_umask = os.umask(0o077)  # the daemon's unit runs with UMask=0077
    try:
        name = publish(index.index_dir, pub)
    finally:
        os.umask(old_umask)
    assert read_current(pub) == name == "00000001"
    gen = pub / GENERATIONS / name
    manifest = read_manifest(gen)
    assert manifest.documents == 5
    assert any(f.endswith(".fpo") for f in manifest.files)
    assert any(f.endswith(".fpd") for f in manifest.files)
    # readable by the web tier's user whatever the daemon's umask
    for p in [pub, pub / GENERATIONS, gen, gen / "whoosh"]:
        assert p.stat().st_mode & 0o777 == 0o755, p
    for rel in [*manifest.files, MANIFEST]:
        assert (gen / rel).stat().st_mode & 0o777 == 0o644, rel
    assert (pub / CURRENT).stat().st_mode & 0o777 == 0o644
    # segment files are links to the index's own (same inode), not copies
    seg = next(f for f in manifest.files if f.endswith(".pst"))
    assert (gen / seg).stat().st_ino == (index.whoosh_dir / seg.removeprefix("whoosh/")).stat().st_ino
    reader = SearchIndex(gen).open(owner=False)
    try:
        assert reader.doc_count() == 5
        assert _ids(reader, word(3)) == [paper_id(3)] == _ids(index, word(3))
        assert sorted(_ids(reader, "adversarial")) == sorted(_ids(index, "adversarial"))
        assert len(_ids(reader, "adversarial")) == 5
    finally:
        reader.close()
        index.close()
        db.close()


def test_publishing_again_without_a_commit_changes_nothing_and_a_commit_makes_the_next(
    tmp_path: Path,
) -> None:
    db, index = filled_index(tmp_path, range(3))
    pub = tmp_path / "pub"
    try:
        assert publish(index.index_dir, pub) == "00000001"
        assert publish(index.index_dir, pub) == "00000001"
        add_papers(db, tmp_path, range(3, 5))
        index.check(db)  # one commit
        assert publish(index.index_dir, pub) == "00000002"
        assert read_manifest(pub / GENERATIONS / "00000002").documents == 5
        assert read_manifest(pub / GENERATIONS / "00000001").documents == 3  # kept for its readers
        # the older generation still answers as it was
        old = SearchIndex(pub / GENERATIONS / "00000001").open(owner=False)
        assert _ids(old, word(4)) == []
        old.close()
    finally:
        index.close()
        db.close()


def test_a_publication_that_dies_midway_is_never_named_and_is_cleared_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, index = filled_index(tmp_path, range(3))
    pub = tmp_path / "pub"
    try:
        publish(index.index_dir, pub)
        add_papers(db, tmp_path, range(3, 4))
        index.check(db)
        real_link = os.link
        calls = 0

        def failing_link(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
            nonlocal calls
            calls += 1
            if calls > 3:
                raise OSError(errno.EIO, "disk on fire")
            real_link(src, dst)

        monkeypatch.setattr(publish_mod.os, "link", failing_link)
        with pytest.raises(PublishError, match="disk on fire"):
            publish(index.index_dir, pub)
        assert read_current(pub) == "00000001"  # what readers see did not move
        assert (pub / GENERATIONS / "00000002.tmp").is_dir()  # the debris, never named
        monkeypatch.setattr(publish_mod.os, "link", real_link)
        assert publish(index.index_dir, pub) == "00000002"
        assert sorted(p.name for p in (pub / GENERATIONS).iterdir()) == ["00000001", "00000002"]
        assert read_manifest(pub / GENERATIONS / "00000002").documents == 4
    finally:
        index.close()
        db.close()


def test_across_file_systems_segments_are_copied_once_then_linked_from_the_previous_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, index = filled_index(tmp_path, range(3))
    pub = tmp_path / "pub"
    real_link = os.link

    def no_links_from_the_index(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if str(index.index_dir) in os.fspath(src):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(src, dst)

    monkeypatch.setattr(publish_mod.os, "link", no_links_from_the_index)
    try:
        first = pub / GENERATIONS / publish(index.index_dir, pub)
        add_papers(db, tmp_path, range(3, 4))
        index.check(db)  # a new segment beside the old one
        second = pub / GENERATIONS / publish(index.index_dir, pub)
        old_files = read_manifest(first).files
        new_files = read_manifest(second).files
        shared = [f for f in old_files if f in new_files and f.startswith("whoosh/papers_")]
        fresh = [f for f in new_files if f not in old_files and f.startswith("whoosh/papers_")]
        assert shared
        assert fresh
        for f in shared:  # the same segment file: linked from the previous generation
            assert (second / f).stat().st_ino == (first / f).stat().st_ino
        for f in fresh:  # new segments: copies, not the index's inode
            src = index.whoosh_dir / f.removeprefix("whoosh/")
            if src.exists():
                assert (second / f).stat().st_ino != src.stat().st_ino
        reader = SearchIndex(second).open(owner=False)
        assert _ids(reader, word(3)) == [paper_id(3)]
        reader.close()
    finally:
        index.close()
        db.close()


def test_old_generations_go_after_keep_newer_ones_and_the_grace_period(tmp_path: Path) -> None:
    db, index = filled_index(tmp_path, range(2))
    pub = tmp_path / "pub"
    now = [1000.0]
    try:
        names = []
        for n in range(2, 7):
            names.append(publish(index.index_dir, pub, keep=2, grace_s=600, clock=lambda: now[0]))
            add_papers(db, tmp_path, [n])
            index.check(db)
            now[0] += 60  # a generation a minute: none was superseded 10 minutes ago
        assert sorted(p.name for p in (pub / GENERATIONS).iterdir()) == names
        now[0] += 600  # ten minutes later: only the two newest stay (and the one published now)
        last = publish(index.index_dir, pub, keep=2, grace_s=600, clock=lambda: now[0])
        left = sorted(p.name for p in (pub / GENERATIONS).iterdir())
        assert left == [names[-1], last]
        assert read_current(pub) == last
        with pytest.raises(ValueError, match="at least 2"):
            publish(index.index_dir, pub, keep=1)
    finally:
        index.close()
        db.close()


def test_a_damaged_current_generation_is_replaced_by_a_new_one(tmp_path: Path) -> None:
    db, index = filled_index(tmp_path, range(2))
    pub = tmp_path / "pub"
    try:
        first = publish(index.index_dir, pub)
        victim = next((pub / GENERATIONS / first / "whoosh").glob("*.pst"))
        data = victim.read_bytes()
        victim.unlink()  # break the link: only the published copy is damaged, the index stays whole
        victim.write_bytes(data[:10])
        with pytest.raises(PublishError, match="incomplete"):
            read_manifest(pub / GENERATIONS / first)
        # the index has not changed, so only noticing the damage makes a new generation
        assert publish(index.index_dir, pub) == "00000002"
        assert read_current(pub) == "00000002"
        read_manifest(pub / GENERATIONS / "00000002")
    finally:
        index.close()
        db.close()


def test_read_current_refuses_garbage(tmp_path: Path) -> None:
    assert read_current(tmp_path) is None
    for garbage in (b"", b"../etc", b"0000001\x00", b"12 13", "\u0661\u0662".encode()):
        (tmp_path / CURRENT).write_bytes(garbage)
        with pytest.raises(PublishError, match="does not name a generation"):
            read_current(tmp_path)
    (tmp_path / CURRENT).write_bytes(b"00000042\n")
    assert read_current(tmp_path) == "00000042"


def test_a_manifest_naming_files_outside_its_generation_is_refused(tmp_path: Path) -> None:
    gen = tmp_path / "00000001"
    gen.mkdir()
    (gen / MANIFEST).write_text(json.dumps({
        "format": 1, "name": "00000001", "whoosh_generation": 1, "documents": 0, "published": 0.0,
        "toc_sha256": "x", "files": {"../../etc/passwd": 1},
    }))
    with pytest.raises(PublishError, match="outside the generation"):
        read_manifest(gen)


def test_the_daemon_publishes_after_each_commit_and_once_at_start(tmp_path: Path) -> None:
    db, index = filled_index(tmp_path, range(2))
    pub = tmp_path / "pub"
    cfg = Config(search=SearchConfig(publish_dir=pub))
    try:
        publisher = attach(index, cfg)
        assert publisher is not None
        assert publisher.published == "00000001"
        assert read_manifest(pub / GENERATIONS / "00000001").documents == 2
        add_papers(db, tmp_path, range(2, 4))
        index.check(db)  # the commit listener publishes, in the committing thread
        assert read_current(pub) == "00000002"
        assert read_manifest(pub / GENERATIONS / "00000002").documents == 4
        assert attach(index, Config()) is None  # no publish_dir: nothing attached
        assert index.commit_listeners == [publisher]
    finally:
        index.close()
        db.close()


def test_a_failing_publication_never_fails_the_commit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, index = filled_index(tmp_path, range(2))
    pub = tmp_path / "pub"
    try:
        publisher = attach(index, Config(search=SearchConfig(publish_dir=pub)))
        assert publisher is not None
        (pub / GENERATIONS).chmod(0o555)
        os.chmod(pub / CURRENT, 0o444)
        if os.access(pub / GENERATIONS, os.W_OK):  # root ignores modes: make the folder a file instead
            (pub / GENERATIONS).chmod(0o755)
            shutil.rmtree(pub / GENERATIONS)
            (pub / GENERATIONS).write_text("not a folder")
        add_papers(db, tmp_path, range(2, 3))
        report = index.check(db)  # commits; publishing fails and is logged, the commit stands
        assert report.repaired
        assert _ids(index, word(2)) == [paper_id(2)]
        assert "publishing the search index for the web tier failed" in caplog.text
        assert publisher.published == "00000001"
    finally:
        index.close()
        db.close()


def test_a_current_file_longer_than_a_name_is_refused(tmp_path: Path) -> None:
    """Read whole, not cut at 64 bytes: a name followed by padding and a path is not a name."""
    (tmp_path / CURRENT).write_bytes(b"00000042" + b" " * 62 + b"../../junk")
    with pytest.raises(PublishError):
        read_current(tmp_path)
    (tmp_path / CURRENT).write_bytes(b"00000042\n")
    assert read_current(tmp_path) == "00000042"


def test_a_generation_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    """A copy whose files point elsewhere (another generation, anywhere) is not that generation."""
    gen = tmp_path / "00000001"
    (gen / "whoosh").mkdir(parents=True)
    outside = tmp_path / "outside.pst"
    outside.write_bytes(b"abc")
    (gen / "whoosh" / "a.pst").symlink_to(outside)
    (gen / MANIFEST).write_text(json.dumps({
        "format": FORMAT, "name": "00000001", "whoosh_generation": 1, "documents": 0, "published": 0.0,
        "toc_sha256": "x", "files": {"whoosh/a.pst": 3},
    }))
    with pytest.raises(PublishError, match="not a regular file"):
        read_manifest(gen)
    (gen / "whoosh" / "a.pst").unlink()
    (gen / "whoosh" / "a.pst").write_bytes(b"abc")
    assert read_manifest(gen).files == {"whoosh/a.pst": 3}
    (gen / "whoosh" / "_papers_9.toc").write_bytes(b"stray")  # a newer TOC Whoosh would open instead
    with pytest.raises(PublishError, match="does not list"):
        read_manifest(gen)
