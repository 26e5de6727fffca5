"""Atomic files and folders: complete or absent, never half-written; what happens when the target exists."""

from __future__ import annotations

import pytest

from domainemb.atomic import swap_into_place, write_atomic


class Boom(Exception):
    pass


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "out.bin"
    write_atomic(path, lambda tmp: tmp.write_bytes(b"first"))
    write_atomic(path, lambda tmp: tmp.write_bytes(b"second"))
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["out.bin"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise Boom

    with pytest.raises(Boom):
        write_atomic(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _staging(tmp_path, name: str, content: str):
    staging = tmp_path / f".{name}"
    staging.mkdir()
    (staging / "file.txt").write_text(content)
    return staging


def test_swap_moves_the_folder_in_and_replaces_an_existing_one(tmp_path):
    target = tmp_path / "bench"
    assert swap_into_place(_staging(tmp_path, "first", "1"), target)
    assert swap_into_place(_staging(tmp_path, "second", "2"), target)
    assert (target / "file.txt").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["bench"]  # the old folder is gone too


def test_swap_without_replace_keeps_the_existing_folder(tmp_path):
    """Another process finished the same work first: its folder stays, ours is discarded."""
    target = tmp_path / "model"
    assert swap_into_place(_staging(tmp_path, "first", "1"), target, replace=False)
    assert not swap_into_place(_staging(tmp_path, "second", "2"), target, replace=False)
    assert (target / "file.txt").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
