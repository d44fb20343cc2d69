"""Filter plugin folders: the image build folder and its parent may be written by the SSH user
and root only (image_build/tasks/folder.yml)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import folders

unsafe_folders = folders.FilterModule().filters()["unsafe_folders"]

USER = 1000


def stat(path: str, **fields) -> dict:
    """One result of a looped ansible.builtin.stat."""
    base = {"exists": True, "isdir": True, "islnk": False, "uid": USER, "wgrp": False,
            "woth": False, "mode": "0700"}  # fmt: skip
    return {"item": path, "stat": {**base, **fields}, "changed": False}


def test_folders_of_the_user_or_root_that_no_one_else_may_write_are_safe():
    results = [stat("/var/lib", uid=0, mode="0755"), stat("/var/lib/build"),
               {"item": "/var/lib/build/x", "stat": {"exists": False}}]  # fmt: skip
    assert unsafe_folders(results, str(USER)) == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"isdir": False}, "/b is not a folder"),
        ({"islnk": True}, "/b is not a folder"),
        ({"isdir": False, "uid": 65534, "woth": True}, "/b is not a folder"),
        ({"uid": 65534}, "/b belongs to uid 65534"),
        ({"uid": 65534, "woth": True}, "/b belongs to uid 65534"),
        ({"wgrp": True, "mode": "0770"}, "/b is writable by others (mode 0770)"),
        ({"woth": True, "mode": "1777"}, "/b is writable by others (mode 1777)"),
    ],
)
def test_one_problem_per_folder_the_first_that_applies(fields, problem):
    assert unsafe_folders([stat("/b", **fields)], USER) == [problem]


def test_every_unsafe_folder_is_named_in_order():
    results = [stat("/a", uid=0, woth=True, mode="0777"), stat("/a/b", uid=0)]
    assert unsafe_folders(results, USER) == ["/a is writable by others (mode 0777)"]
    results = [stat("/a", uid=1), stat("/a/b", isdir=False)]
    assert unsafe_folders(results, USER) == ["/a belongs to uid 1", "/a/b is not a folder"]


@pytest.mark.parametrize(
    ("results", "uid", "message"),
    [
        ("/a", USER, "not a list of stat results"),
        ([{"item": "/a"}], USER, "without item"),
        ([{"stat": {"exists": True}}], USER, "without item"),
        ([stat("/a")], "root", "not a user id"),
    ],
)
def test_what_is_not_a_stat_result_is_refused(results, uid, message):
    with pytest.raises(AnsibleFilterError, match=message):
        unsafe_folders(results, uid)
