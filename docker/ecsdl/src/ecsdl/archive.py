"""`ecsdl archive-work FOLDER DEST`: one gzip'd tar of a folder, to S3 or a path, with its sha256.

teardown.yml runs it in a one-off task that mounts the deployment's workspace (its EFS file
system) read-only, so that the data scientist's work reaches the control machine before the
file system is deleted: the controller downloads DEST and checks it against the sha256 this
prints and stores with it (the S3 object's metadata `sha256`).

The archive holds the folder's contents with paths relative to it (`./notes.ipynb`), regular
files, folders and symbolic links as links (never followed: a link to /etc stays a link); other
kinds of files (sockets, FIFOs, devices) are left out and counted. It is written to a temporary
file first, so a failed upload leaves nothing half-written at DEST. Prints one JSON line:
{"archive": DEST, "sha256": ..., "bytes": ..., "files": ..., "skipped": ...}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecsdl import EcsdlError
from ecsdl.sources import SourceError, _s3_client, is_http, is_s3, s3_write_errors, split_s3

CHUNK = 1 << 20


def _members(folder: Path) -> tuple[list[Path], int]:
    """Every path under `folder` to archive (sorted, folders before their contents), and how
    many were left out (neither file, folder nor link)."""
    kept: list[Path] = []
    skipped = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        base = Path(root)
        for name in sorted(dirs) + sorted(files):
            path = base / name
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
                kept.append(path)
            else:
                skipped += 1
    return kept, skipped


def write_archive(folder: Path, target: Path) -> dict[str, Any]:
    """Write `folder`'s contents to `target` (a .tar.gz); return its sha256, size and counts."""
    if not folder.is_dir():
        raise EcsdlError(f"{folder}: not a folder")
    members, skipped = _members(folder)
    files = 0
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path in members:
            archive.add(path, arcname=f"./{path.relative_to(folder)}", recursive=False)
            files += int(path.is_file() and not path.is_symlink())
    digest = hashlib.sha256()
    with target.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return {
        "sha256": digest.hexdigest(),
        "bytes": target.stat().st_size,
        "files": files,
        "skipped": skipped,
    }


def upload(path: Path, dest: str, sha256: str, client: Any | None = None) -> None:
    """Put the archive at `dest` (s3:// with metadata sha256, or a local path)."""
    if is_s3(dest):
        bucket, key = split_s3(dest)
        with s3_write_errors(dest):
            (client or _s3_client()).upload_file(
                str(path), bucket, key, ExtraArgs={"Metadata": {"sha256": sha256}}
            )
        return
    if is_http(dest):
        raise SourceError(f"{dest}: cannot write to an http(s) URL; give a path or s3:// URI")
    target = Path(dest)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    except OSError as exc:
        raise SourceError(f"{dest}: cannot write ({exc.strerror or exc})") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecsdl archive-work",
        description="Archive a folder (tar.gz) to an s3:// URI or a path, with its sha256.",
    )
    parser.add_argument("folder", type=Path, help="the folder whose contents to archive")
    parser.add_argument("dest", help="s3://bucket/key.tar.gz or a path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="ecsdl-archive-") as scratch:
            archive = Path(scratch) / "work.tar.gz"
            summary = write_archive(args.folder, archive)
            upload(archive, args.dest, summary["sha256"])
    except EcsdlError as exc:
        print(f"archive-work: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"archive": args.dest, **summary}, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
