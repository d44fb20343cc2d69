#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An EFS access point: the user and the root folder an NFS client gets on a file system."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: efs_access_point
short_description: Create, replace or delete an Amazon EFS access point
description:
  - Finds the access point of O(file_system_id) whose tag C(Name) is O(name) (the access point's
    own name in the console). With O(state=present), creates it when there is none, and replaces
    it (deletes it and creates another, with a new id) when its POSIX user or root directory
    differ from the ones asked for, since EFS cannot change them in place; the tags are updated
    in place. Waits until the access point is C(available).
  - With O(state=absent), deletes every access point of the file system with that name (none
    there is no change), and waits until they are gone.
  - No module of amazon.aws or community.aws manages access points (community.aws.efs makes the
    file system and its mount targets).
options:
  state:
    description: Whether the access point exists.
    type: str
    choices: [present, absent]
    default: present
  file_system_id:
    description: The file system, C(fs-...).
    type: str
    required: true
  name:
    description: The value of the access point's tag C(Name), by which it is found.
    type: str
    required: true
  posix_user:
    description: The user and group every file operation through the access point is made as.
    type: dict
    suboptions:
      uid:
        description: User id.
        type: int
        required: true
      gid:
        description: Group id.
        type: int
        required: true
  root_directory:
    description: The folder of the file system that clients of the access point see as C(/).
    type: dict
    suboptions:
      path:
        description: Absolute path in the file system.
        type: str
        required: true
      owner_uid:
        description: Owner of the folder when EFS creates it.
        type: int
        required: true
      owner_gid:
        description: Group of the folder when EFS creates it.
        type: int
        required: true
      permissions:
        description: Mode of the folder when EFS creates it (octal, as a string).
        type: str
        default: "0755"
  tags:
    description: Tags besides C(Name).
    type: dict
    default: {}
  wait_timeout:
    description: Seconds to wait for the access point to be available, or gone.
    type: int
    default: 120
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The work folder, as the containers' user
  ecs_dl.deep_learning.efs_access_point:
    file_system_id: fs-0123456789abcdef0
    name: ecs-dl-work
    posix_user: {uid: 61000, gid: 61000}
    root_directory: {path: /work, owner_uid: 61000, owner_gid: 61000, permissions: "0755"}
    tags: {Deployment: ecs-dl}
"""

RETURN = r"""
access_point:
  description: The access point (absent - empty).
  returned: always
  type: dict
  contains:
    access_point_id:
      description: Its id.
      type: str
      sample: fsap-0123456789abcdef0
    access_point_arn:
      description: Its ARN, for IAM conditions (elasticfilesystem:AccessPointArn).
      type: str
    file_system_id:
      description: The file system.
      type: str
    life_cycle_state:
      description: C(available) once it can be used.
      type: str
    posix_user:
      description: C(uid) and C(gid).
      type: dict
    root_directory:
      description: C(path), and C(creation_info) with C(owner_uid), C(owner_gid), C(permissions).
      type: dict
"""

import time
import uuid
from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)

POLL_SECONDS = 2


def find(client: Any, file_system_id: str, name: str) -> list[dict[str, Any]]:
    """The file system's access points named `name` (not being deleted)."""
    found = []
    paginator = client.get_paginator("describe_access_points")
    for page in paginator.paginate(FileSystemId=file_system_id):
        for point in page.get("AccessPoints", []):
            tags = boto3_tag_list_to_ansible_dict(point.get("Tags", []))
            if tags.get("Name") == name and point.get("LifeCycleState") not in (
                "deleting",
                "deleted",
            ):
                found.append(point)
    return found


def wanted(module: AnsibleAWSModule) -> tuple[dict[str, Any], dict[str, Any]]:
    """PosixUser and RootDirectory as the API takes them."""
    user = module.params["posix_user"]
    root = module.params["root_directory"]
    posix = {"Uid": user["uid"], "Gid": user["gid"]}
    directory = {
        "Path": root["path"],
        "CreationInfo": {
            "OwnerUid": root["owner_uid"],
            "OwnerGid": root["owner_gid"],
            "Permissions": root["permissions"],
        },
    }
    return posix, directory


def same_settings(point: dict[str, Any], posix: dict[str, Any], directory: dict[str, Any]) -> bool:
    have_user = point.get("PosixUser", {})
    have_root = point.get("RootDirectory", {})
    return (
        (have_user.get("Uid"), have_user.get("Gid")) == (posix["Uid"], posix["Gid"])
        and have_root.get("Path") == directory["Path"]
        and have_root.get("CreationInfo", {}) == directory["CreationInfo"]
    )


def wait_until(module: AnsibleAWSModule, check, what: str) -> Any:
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"Gave up after {module.params['wait_timeout']} s waiting for {what}"
            )
        time.sleep(POLL_SECONDS)


def describe(client: Any, point_id: str) -> dict[str, Any] | None:
    try:
        points = client.describe_access_points(aws_retry=True, AccessPointId=point_id)[
            "AccessPoints"
        ]
    except is_boto3_error_code("AccessPointNotFound"):
        return None
    return points[0] if points else None


def delete(module: AnsibleAWSModule, client: Any, point: dict[str, Any]) -> None:
    point_id = point["AccessPointId"]
    try:
        client.delete_access_point(aws_retry=True, AccessPointId=point_id)
    except is_boto3_error_code("AccessPointNotFound"):
        return
    wait_until(
        module,
        lambda: True if describe(client, point_id) is None else None,
        f"access point {point_id} to be deleted",
    )


def create(module: AnsibleAWSModule, client: Any, posix: dict, directory: dict) -> dict[str, Any]:
    tags = dict(module.params["tags"] or {}, Name=module.params["name"])
    point = client.create_access_point(
        aws_retry=True,
        ClientToken=str(uuid.uuid4()),
        FileSystemId=module.params["file_system_id"],
        PosixUser=posix,
        RootDirectory=directory,
        Tags=ansible_dict_to_boto3_tag_list(tags),
    )
    point_id = point["AccessPointId"]

    def available() -> dict[str, Any] | None:
        current = describe(client, point_id)
        return current if current and current.get("LifeCycleState") == "available" else None

    return wait_until(module, available, f"access point {point_id} to be available")


def sync_tags(module: AnsibleAWSModule, client: Any, point: dict[str, Any]) -> bool:
    have = boto3_tag_list_to_ansible_dict(point.get("Tags", []))
    want = dict(module.params["tags"] or {}, Name=module.params["name"])
    to_set, to_unset = compare_aws_tags(have, want, purge_tags=True)
    if not to_set and not to_unset:
        return False
    if module.check_mode:
        return True
    point_id = point["AccessPointId"]
    if to_unset:
        client.untag_resource(aws_retry=True, ResourceId=point_id, TagKeys=to_unset)
    if to_set:
        client.tag_resource(
            aws_retry=True, ResourceId=point_id, Tags=ansible_dict_to_boto3_tag_list(to_set)
        )
    point["Tags"] = ansible_dict_to_boto3_tag_list(want)
    return True


def result(point: dict[str, Any] | None) -> dict[str, Any]:
    if not point:
        return {}
    shown = camel_dict_to_snake_dict({k: v for k, v in point.items() if k != "Tags"})
    shown["tags"] = boto3_tag_list_to_ansible_dict(point.get("Tags", []))
    return shown


def ensure(module: AnsibleAWSModule, client: Any) -> dict[str, Any]:
    params = module.params
    found = find(client, params["file_system_id"], params["name"])
    if params["state"] == "absent":
        if found and not module.check_mode:
            for point in found:
                delete(module, client, point)
        return {"changed": bool(found), "access_point": {}}

    for option in ("posix_user", "root_directory"):
        if not params[option]:
            module.fail_json(msg=f"state=present needs {option}")
    posix, directory = wanted(module)
    keep = next((p for p in found if same_settings(p, posix, directory)), None)
    stale = [p for p in found if p is not keep]
    if module.check_mode:
        return {"changed": bool(stale) or keep is None, "access_point": result(keep)}
    for point in stale:
        delete(module, client, point)
    if keep is None:
        return {"changed": True, "access_point": result(create(module, client, posix, directory))}
    changed = sync_tags(module, client, keep) or bool(stale)
    return {"changed": changed, "access_point": result(keep)}


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            file_system_id=dict(type="str", required=True),
            name=dict(type="str", required=True),
            posix_user=dict(
                type="dict",
                options=dict(
                    uid=dict(type="int", required=True), gid=dict(type="int", required=True)
                ),
            ),
            root_directory=dict(
                type="dict",
                options=dict(
                    path=dict(type="str", required=True),
                    owner_uid=dict(type="int", required=True),
                    owner_gid=dict(type="int", required=True),
                    permissions=dict(type="str", default="0755"),
                ),
            ),
            tags=dict(type="dict", default={}),
            wait_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    client = module.client("efs", retry_decorator=AWSRetry.jittered_backoff())
    try:
        outcome = ensure(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="EFS access point")
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
