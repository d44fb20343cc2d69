# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Folders that only one user (and root) may write.

- ``stats.results | unsafe_folders(uid)``: what makes the folders of a looped
  ``ansible.builtin.stat`` (``item``: the path) unsafe for a build run as root, one line per
  folder, in their order: not a folder (or a symbolic link), owned by a user other than ``uid``
  and root, or writable by its group or by others. Paths that do not exist are fine (they are
  made afterwards).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def _problem(path: str, stat: Mapping[str, Any], uid: int) -> str | None:
    if not stat.get("isdir") or stat.get("islnk"):
        return f"{path} is not a folder"
    if stat.get("uid") not in (0, uid):
        return f"{path} belongs to uid {stat.get('uid')}"
    if stat.get("wgrp") or stat.get("woth"):
        return f"{path} is writable by others (mode {stat.get('mode')})"
    return None


def unsafe_folders(results: Any, uid: Any) -> list[str]:
    if not isinstance(results, Sequence) or isinstance(results, str):
        raise AnsibleFilterError(f"unsafe_folders: not a list of stat results: {results!r}")
    try:
        owner = int(uid)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"unsafe_folders: not a user id: {uid!r}") from None
    problems = []
    for result in results:
        stat = result.get("stat") if isinstance(result, Mapping) else None
        if not isinstance(stat, Mapping) or "item" not in result:
            raise AnsibleFilterError(
                f"unsafe_folders: a result without item (the path) and stat: {result!r}"
            )
        if stat.get("exists"):
            problem = _problem(str(result["item"]), stat, owner)
            if problem:
                problems.append(problem)
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"unsafe_folders": unsafe_folders}
