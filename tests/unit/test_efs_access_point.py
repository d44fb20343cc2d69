"""The collection's efs_access_point module against moto's EFS: found by its Name tag, created
once, replaced when its user or folder change (EFS cannot change them in place), its tags
updated in place, deleted with state=absent; check mode changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

USER = {"uid": 61000, "gid": 61000}
ROOT_DIRECTORY = {"path": "/work", "owner_uid": 61000, "owner_gid": 61000, "permissions": "0755"}


@pytest.fixture()
def file_system(aws: Callable[[str], Any], request: pytest.FixtureRequest) -> str:
    efs = aws("efs")
    created = efs.create_file_system(CreationToken=request.node.name, Encrypted=True)
    return created["FileSystemId"]


def points(aws: Callable[[str], Any], file_system: str) -> list[dict[str, Any]]:
    return aws("efs").describe_access_points(FileSystemId=file_system)["AccessPoints"]


def test_created_once_then_left_as_it_is(run_module, aws, file_system: str) -> None:
    args = dict(
        file_system_id=file_system,
        name="ecs-dl-work",
        posix_user=USER,
        root_directory=ROOT_DIRECTORY,
        tags={"Deployment": "ecs-dl"},
    )
    first = run_module("efs_access_point", **args)
    assert first["changed"] is True
    point = first["access_point"]
    assert point["access_point_id"].startswith("fsap-")
    assert point["life_cycle_state"] == "available"
    assert point["posix_user"] == {"uid": 61000, "gid": 61000}
    assert point["root_directory"]["path"] == "/work"
    assert point["tags"] == {"Deployment": "ecs-dl", "Name": "ecs-dl-work"}

    again = run_module("efs_access_point", **args)
    assert again["changed"] is False
    assert again["access_point"]["access_point_id"] == point["access_point_id"]
    assert len(points(aws, file_system)) == 1


def test_a_new_user_replaces_it_and_tags_change_in_place(run_module, aws, file_system) -> None:
    args = dict(
        file_system_id=file_system,
        name="ecs-dl-work",
        posix_user=USER,
        root_directory=ROOT_DIRECTORY,
        tags={"Deployment": "ecs-dl"},
    )
    first = run_module("efs_access_point", **args)["access_point"]

    retagged = run_module("efs_access_point", **{**args, "tags": {"Deployment": "other"}})
    assert retagged["changed"] is True
    assert retagged["access_point"]["access_point_id"] == first["access_point_id"]
    assert retagged["access_point"]["tags"]["Deployment"] == "other"

    checked = run_module(
        "efs_access_point",
        _ansible_check_mode=True,
        **{**args, "posix_user": {"uid": 1000, "gid": 1000}},
    )
    assert checked["changed"] is True
    assert [p["AccessPointId"] for p in points(aws, file_system)] == [first["access_point_id"]]

    replaced = run_module("efs_access_point", **{**args, "posix_user": {"uid": 1000, "gid": 1000}})
    assert replaced["changed"] is True
    assert replaced["access_point"]["access_point_id"] != first["access_point_id"]
    left = points(aws, file_system)
    assert [p["AccessPointId"] for p in left] == [replaced["access_point"]["access_point_id"]]
    assert left[0]["PosixUser"] == {"Uid": 1000, "Gid": 1000}


def test_absent_deletes_only_the_named_one(run_module, aws, file_system: str) -> None:
    for name in ("ecs-dl-work", "someone-elses"):
        run_module(
            "efs_access_point",
            file_system_id=file_system,
            name=name,
            posix_user=USER,
            root_directory=ROOT_DIRECTORY,
        )
    gone = run_module(
        "efs_access_point", file_system_id=file_system, name="ecs-dl-work", state="absent"
    )
    assert gone["changed"] is True
    left = points(aws, file_system)
    assert [{t["Key"]: t["Value"] for t in p["Tags"]}["Name"] for p in left] == ["someone-elses"]
    again = run_module(
        "efs_access_point", file_system_id=file_system, name="ecs-dl-work", state="absent"
    )
    assert again["changed"] is False


def test_present_without_a_user_is_one_clear_error(run_module, file_system: str) -> None:
    failed = run_module(
        "efs_access_point", expect_failure=True, file_system_id=file_system, name="x"
    )
    assert failed["msg"] == "state=present needs posix_user"
