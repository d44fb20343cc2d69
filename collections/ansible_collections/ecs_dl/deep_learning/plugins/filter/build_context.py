# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image build's context: which files go to the instance and into the content version.

- ``found.files | build_context_files(context, exclude_dirs, exclude_paths)``: the files of an
  ``ansible.builtin.find`` (with ``get_checksum``, sha256) under ``context``, as
  ``[{path, sha256, exec}]`` (path relative to the context, sorted by it, case aside; exec: the
  owner's x bit), without those under a folder whose name matches one of ``exclude_dirs`` and
  those whose relative path matches one of ``exclude_paths``.

Patterns are globs with ``*`` only (anything else matches itself): in a folder name ``*`` is any
text, in a path it stays within one folder (``certs/*.crt`` leaves out ``certs/a.crt``, not
``certs/x/a.crt``). A pattern matches the whole name or path.
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _patterns(globs: Any, star: str, name: str) -> list[re.Pattern[str]]:
    if globs is None:
        return []
    if not _is_list(globs) or not all(isinstance(glob, str) for glob in globs):
        raise AnsibleFilterError(
            f"build_context_files: {name} is not a list of patterns: {globs!r}"
        )
    return [re.compile(re.escape(glob).replace(r"\*", star) + "$") for glob in globs]


def build_context_files(
    found: Any, context: str, exclude_dirs: Any = None, exclude_paths: Any = None
) -> list[dict[str, Any]]:
    if not _is_list(found):
        raise AnsibleFilterError(f"build_context_files: not a list of found files: {found!r}")
    dirs = _patterns(exclude_dirs, ".*", "exclude_dirs")
    paths = _patterns(exclude_paths, "[^/]*", "exclude_paths")
    files = []
    for entry in found:
        try:
            path, checksum, executable = entry["path"], entry["checksum"], entry["xusr"]
        except (KeyError, TypeError):
            raise AnsibleFilterError(
                "build_context_files: a found file without path, checksum (get_checksum: true) "
                f"and xusr: {entry!r}"
            ) from None
        rel = os.path.relpath(path, context)
        if any(p.match(part) for part in rel.split("/")[:-1] for p in dirs):
            continue
        if any(p.match(rel) for p in paths):
            continue
        files.append({"path": rel, "sha256": checksum, "exec": executable})
    # Sorted as Jinja's sort(attribute='path') sorted them (without regard to case), which the
    # content versions of earlier images were worked out with.
    return sorted(files, key=lambda f: f["path"].lower())


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"build_context_files": build_context_files}
