"""Writing files and folders whole or not at all, never through a planted link."""

from __future__ import annotations

import os
import tempfile

import pytest

from connectly_nb._fs import atomic_directory, atomic_write, check_writable


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


@pytest.fixture
def names(monkeypatch):
    """Make the temporary names predictable: ``.<name>.first.partial``, then ``second``..."""

    def candidates():
        return iter(["first", "second", "third"])

    monkeypatch.setattr(tempfile, "_get_candidate_names", candidates)


def test_atomic_write_renames_a_complete_file_with_the_usual_mode(tmp_path):
    target = tmp_path / "out.csv"
    with atomic_write(target, mode="w", encoding="utf-8", newline="") as fh:
        fh.write("a,b\r\n")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_bytes() == b"a,b\r\n"
    assert leftovers(tmp_path) == []
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def write_then_fail(target, error: BaseException) -> None:
    """Start writing ``target`` and fail half way."""
    with atomic_write(target) as fh:
        fh.write(b"half a rep")
        raise error


def test_an_exception_leaves_the_target_untouched_and_no_temporary_file(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(target, RuntimeError("boom"))
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):
        write_then_fail(tmp_path / "new.csv", KeyboardInterrupt())  # an interrupt too
    assert list(tmp_path.iterdir()) == [target]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.csv"
    target.symlink_to(victim)
    with atomic_write(target) as fh:
        fh.write(b"new")
    assert victim.read_text() == "precious"
    assert not target.is_symlink()
    assert target.read_bytes() == b"new"


def test_a_file_planted_at_the_temporary_name_is_never_written_through(tmp_path, names):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted_link = tmp_path / ".out.csv.first.partial"
    planted_link.symlink_to(victim)
    planted_file = tmp_path / ".out.csv.second.partial"
    planted_file.write_text("someone else's")
    with atomic_write(tmp_path / "out.csv") as fh:
        fh.write(b"mine")
    assert (tmp_path / "out.csv").read_bytes() == b"mine"
    assert victim.read_text() == "precious"
    assert planted_link.is_symlink()
    assert planted_file.read_text() == "someone else's"
    assert leftovers(tmp_path) == [planted_link.name, planted_file.name]  # the third was used


def test_a_folder_planted_at_the_temporary_name_is_never_filled(tmp_path, names):
    planted = tmp_path / ".entry.first.partial"
    planted.mkdir()
    with atomic_directory(tmp_path / "entry") as tmp:
        assert tmp.name == ".entry.second.partial"
        (tmp / "a").write_text("new")
    assert list(planted.iterdir()) == []
    assert (tmp_path / "entry" / "a").read_text() == "new"


def test_check_writable_refuses_a_folder_and_a_missing_folder(tmp_path):
    assert check_writable(tmp_path / "x.html") == tmp_path / "x.html"
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_writable(tmp_path, what="-o")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_writable(tmp_path / "nope" / "x.html")
    with pytest.raises(IsADirectoryError), atomic_write(tmp_path):
        pass
    assert leftovers(tmp_path) == []


def test_atomic_directory_renames_a_complete_folder(tmp_path):
    target = tmp_path / "cache" / "entry"  # parents are made
    with atomic_directory(target) as tmp:
        assert tmp.parent == target.parent
        (tmp / "messages.parquet").write_bytes(b"PAR1")
        assert not target.exists()
    assert (target / "messages.parquet").read_bytes() == b"PAR1"
    assert leftovers(target.parent) == []


def test_atomic_directory_keeps_an_existing_complete_entry(tmp_path):
    target = tmp_path / "entry"
    target.mkdir()
    (target / "a").write_text("first writer")
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("second writer")
    assert (target / "a").read_text() == "first writer"
    assert leftovers(tmp_path) == []


def test_atomic_directory_removes_its_folder_after_an_exception(tmp_path):
    def fill_then_fail() -> None:
        with atomic_directory(tmp_path / "entry") as tmp:
            (tmp / "a").write_text("x")
            raise ValueError("half done")

    with pytest.raises(ValueError, match="half"):
        fill_then_fail()
    assert list(tmp_path.iterdir()) == []
