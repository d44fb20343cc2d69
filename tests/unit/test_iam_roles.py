"""The iam role's trust policies and how the other roles use its task roles (no services).

- A service may assume a role only for this account's resources where AWS documents the
  confused-deputy conditions (aws:SourceArn and aws:SourceAccount): ECS for the task roles and
  the execution role, Spot Fleet for its role. The trust policies are rendered as the role
  registers them and evaluated for requests of another account, another region and this one.
- Every task definition family has its own task role, named <family>-task, and the model
  import runs in the family whose role may write the models.

tests/unit/test_moto_iam.py checks what each task role may do (IAM enforced by the local
target's moto); tests/integration/test_posture.py reads the deployed roles.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.iam_policies import (
    ECS_TASKS,
    WORK_ACCESS_POINT_ARN,
    WORK_FILE_SYSTEM_ARN,
    role_settings,
    task_policy,
    trust_policy,
)

ROLES = Path(__file__).resolve().parents[2] / "roles"
ACCOUNT = "210987654321"
OTHER_ACCOUNT = "111122223333"
REGION = "eu-west-1"
SETTINGS = role_settings("ecs-dl", ACCOUNT, REGION)
BY_NAME = {role["name"]: role for role in SETTINGS["all_roles"]}


def trust(role: str) -> dict[str, Any]:
    return dict(json.loads(trust_policy(SETTINGS, BY_NAME[role])))


def assumable(document: dict[str, Any], service: str, context: dict[str, str]) -> bool:
    """Whether `service` may assume the role for a request with these global condition keys
    (IAM's evaluation for the operators the role uses: an Allow statement naming the service
    whose every condition holds; a key missing from the request fails its condition)."""
    for statement in document["Statement"]:
        principal = statement.get("Principal", {}).get("Service")
        services = principal if isinstance(principal, list) else [principal]
        if statement.get("Effect") != "Allow" or service not in services:
            continue
        if statement.get("Action") not in ("sts:AssumeRole", ["sts:AssumeRole"]):
            continue
        holds = True
        for operator, conditions in statement.get("Condition", {}).items():
            for key, wanted in conditions.items():
                values = wanted if isinstance(wanted, list) else [wanted]
                given = context.get(key)
                if operator == "StringEquals":
                    holds &= given in values
                elif operator == "ArnLike":
                    holds &= given is not None and any(
                        fnmatch.fnmatchcase(given, value) for value in values
                    )
                else:
                    pytest.fail(f"no evaluation here for the operator {operator}")
        if holds:
            return True
    return False


ECS_ROLES = [role["name"] for role in SETTINGS["all_roles"] if role["service"] == ECS_TASKS]


def ecs_request(account: str, region: str) -> dict[str, str]:
    """What ECS says when it assumes a task's role: the task's ARN and its account."""
    return {
        "aws:SourceArn": f"arn:aws:ecs:{region}:{account}:task/ecs-dl/0123456789abcdef",
        "aws:SourceAccount": account,
    }


def test_every_task_family_and_the_execution_are_ecs_roles() -> None:
    assert sorted(ECS_ROLES) == sorted(
        ["ecs-dl-task-execution"]
        + [f"ecs-dl-{family}-task" for family in ("jupyter", "predict", "train")]
        + ["ecs-dl-train-dist-task", "ecs-dl-import-task", "ecs-dl-work-archive-task"]
    )


@pytest.mark.parametrize("role", ECS_ROLES)
def test_ecs_assumes_the_task_roles_for_this_accounts_tasks_only(role: str) -> None:
    document = trust(role)
    assert assumable(document, ECS_TASKS, ecs_request(ACCOUNT, REGION))
    # The confused deputy: ECS acting for another account's task, whatever it claims.
    assert not assumable(document, ECS_TASKS, ecs_request(OTHER_ACCOUNT, REGION))
    forged = {**ecs_request(OTHER_ACCOUNT, REGION), "aws:SourceAccount": ACCOUNT}
    assert not assumable(document, ECS_TASKS, forged)
    # Another region of this account: not this deployment's.
    assert not assumable(document, ECS_TASKS, ecs_request(ACCOUNT, "us-east-1"))
    # A request without the keys (not made for an ECS resource).
    assert not assumable(document, ECS_TASKS, {})
    assert not assumable(document, "ec2.amazonaws.com", ecs_request(ACCOUNT, REGION))
    # As the ECS task IAM role page writes them.
    condition = document["Statement"][0]["Condition"]
    assert condition == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_spot_fleet_assumes_its_role_for_this_accounts_fleet_requests_only() -> None:
    document = trust("ecs-dl-spot-fleet")
    service = "spotfleet.amazonaws.com"

    def fleet(account: str, region: str = REGION) -> dict[str, str]:
        arn = f"arn:aws:ec2:{region}:{account}:spot-fleet-request/sfr-0123-4567"
        return {"aws:SourceArn": arn, "aws:SourceAccount": account}

    assert assumable(document, service, fleet(ACCOUNT))
    assert not assumable(document, service, fleet(OTHER_ACCOUNT))
    assert not assumable(document, service, fleet(ACCOUNT, "us-east-1"))
    other_resource = {**fleet(ACCOUNT), "aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:fleet/x"}
    assert not assumable(document, service, other_resource)
    assert not assumable(document, service, {})


def test_the_instance_role_has_no_condition_aws_does_not_document() -> None:
    """EC2 documents no aws:SourceArn/aws:SourceAccount for an instance profile's role: a
    condition there could keep the instances from their role (and the ECS agent from the
    cluster)."""
    statements = trust("ecs-dl-ecs-instance")["Statement"]
    assert statements == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


# -- how the other roles use the task roles ---------------------------------------------------
def _defaults(role: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()))


def test_each_task_definition_family_has_its_own_task_role() -> None:
    definitions = _defaults("task_definitions")
    families = definitions["task_definitions_families"]
    arns = definitions["task_definitions_task_role_arns"]
    assert set(arns) == set(families)
    task_roles = {role["name"] for role in SETTINGS["iam_task_roles"]}
    named = {}
    for key, expression in arns.items():
        # "{{ task_definitions_iam_role_arns[deployment_name ~ '-predict-task'] | default('') }}"
        found = re.fullmatch(
            r"\{\{ task_definitions_iam_role_arns\[deployment_name ~ '(-[a-z-]+)'\]"
            r" \| default\(''\) \}\}",
            expression,
        )
        assert found, expression
        family = families[key].replace("{{ deployment_name }}", "ecs-dl")
        assert f"ecs-dl{found.group(1)}" == f"{family}-task", key
        named[key] = f"ecs-dl{found.group(1)}"
    assert set(named.values()) == task_roles
    assert len(set(named.values())) == len(named), "two families share a task role"


def test_the_model_import_runs_in_the_family_whose_role_writes_the_models() -> None:
    models = _defaults("models")
    definitions = _defaults("task_definitions")
    assert models["models_convert_definition"] == definitions["task_definitions_families"]["import"]
    vars_main = yaml.safe_load((ROLES / "task_definitions" / "vars" / "main.yml").read_text())
    containers = vars_main["_task_definitions_containers"]
    assert models["models_convert_container"] == containers["import"]["name"]
    # The import role writes where the models role puts the models (models_key_prefix).
    by_name = {role["name"]: role for role in SETTINGS["iam_task_roles"]}
    prefix = f"models/{models['models_key_prefix']}/*"
    assert by_name["ecs-dl-import-task"]["s3_write"] == [prefix]
    # ...and predict, which serves them, may not.
    assert not any(
        entry.startswith("models/") for entry in by_name["ecs-dl-predict-task"]["s3_write"]
    )


def test_only_jupyter_writes_the_workspace_and_the_archive_only_reads_it() -> None:
    buckets = {"input": "in", "output": "out", "models": "models"}
    mounting = {}
    for role in SETTINGS["iam_task_roles"]:
        document = json.loads(task_policy(SETTINGS, role, buckets, "/ecs/ecs-dl"))
        efs = [
            s for s in document["Statement"] if any("elasticfilesystem" in a for a in s["Action"])
        ]
        if efs:
            mounting[role["name"]] = efs
    assert sorted(mounting) == ["ecs-dl-jupyter-task", "ecs-dl-work-archive-task"]
    condition = {"StringEquals": {"elasticfilesystem:AccessPointArn": WORK_ACCESS_POINT_ARN}}
    (jupyter,) = mounting["ecs-dl-jupyter-task"]
    assert jupyter["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert jupyter["Resource"] == WORK_FILE_SYSTEM_ARN and jupyter["Condition"] == condition
    (archive,) = mounting["ecs-dl-work-archive-task"]
    assert archive["Action"] == ["elasticfilesystem:ClientMount"]
    assert archive["Resource"] == WORK_FILE_SYSTEM_ARN and archive["Condition"] == condition
    assert BY_NAME["ecs-dl-work-archive-task"]["s3_write"] == ["output/work-archives/*"]
    assert "s3_read" not in BY_NAME["ecs-dl-work-archive-task"]
