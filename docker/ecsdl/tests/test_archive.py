"""ecsdl archive-work: the folder's contents in one tar.gz, links kept as links, other kinds of
files left out, the printed sha256 the archive's own; nothing written at DEST on failure."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tarfile
from pathlib import Path

import pytest

from ecsdl import archive, cli


def make_work(folder: Path) -> None:
    (folder / "sub dir").mkdir(parents=True)
    (folder / "notes.ipynb").write_text('{"cells": []}\n')
    (folder / "sub dir" / "data.bin").write_bytes(bytes(range(256)) * 10)
    (folder / ".local" / "lib").mkdir(parents=True)
    (folder / ".local" / "lib" / "pkg.py").write_text("x = 1\n")
    (folder / "etc-link").symlink_to("/etc")
    (folder / "empty").mkdir()


def test_the_archive_holds_the_folder_and_its_printed_sha256(tmp_path, capsys) -> None:
    work = tmp_path / "work"
    make_work(work)
    dest = tmp_path / "out" / "work.tar.gz"

    assert cli.main(["archive-work", str(work), str(dest)]) == 0
    printed = json.loads(capsys.readouterr().out)

    assert printed["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert printed["bytes"] == dest.stat().st_size
    assert printed["files"] == 3 and printed["skipped"] == 0
    with tarfile.open(dest) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {
            "./notes.ipynb",
            "./sub dir",
            "./sub dir/data.bin",
            "./.local",
            "./.local/lib",
            "./.local/lib/pkg.py",
            "./etc-link",
            "./empty",
        }
        assert members["./etc-link"].issym() and members["./etc-link"].linkname == "/etc"
        data = tar.extractfile("./sub dir/data.bin").read()
        assert data == (work / "sub dir" / "data.bin").read_bytes()


def test_sockets_are_left_out_and_counted(tmp_path, capsys) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / "a.txt").write_text("a")
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(work / "kernel.sock"))
        assert archive.main([str(work), str(tmp_path / "w.tar.gz")]) == 0
    finally:
        listener.close()
    printed = json.loads(capsys.readouterr().out)
    assert printed["files"] == 1 and printed["skipped"] == 1
    with tarfile.open(tmp_path / "w.tar.gz") as tar:
        assert tar.getnames() == ["./a.txt"]


def test_an_empty_folder_is_an_empty_archive(tmp_path, capsys) -> None:
    (tmp_path / "w").mkdir()
    assert archive.main([str(tmp_path / "w"), str(tmp_path / "w.tar.gz")]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 0
    with tarfile.open(tmp_path / "w.tar.gz") as tar:
        assert tar.getnames() == []


@pytest.mark.parametrize("dest", ["https://example.org/work.tar.gz", "{missing}/w.tar.gz"])
def test_a_folder_or_dest_that_does_not_work_is_one_line_and_no_file(tmp_path, capsys, dest):
    dest = dest.format(missing=tmp_path / "file-not-folder")
    (tmp_path / "file-not-folder").write_text("x")
    (tmp_path / "w").mkdir()
    assert archive.main([str(tmp_path / "w"), dest]) == 1
    err = capsys.readouterr().err
    assert err.startswith("archive-work: ") and err.count("\n") == 1
    assert archive.main([str(tmp_path / "nothing-here"), str(tmp_path / "x.tar.gz")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "x.tar.gz").exists()
    assert not os.path.exists(dest)
