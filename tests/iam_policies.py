"""The iam role's roles and policies, as it registers them, for the tests.

roles/iam/defaults/main.yml (the roles, their trusted services and the tasks' S3 access) is
rendered with a deployment's name, account and region, and its templates (trust, task and
execution policies) with the variables the role gives them, so that a test checks what the role
makes, not a copy of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROLE = Path(__file__).resolve().parents[1] / "roles" / "iam"
ECS_TASKS = "ecs-tasks.amazonaws.com"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined
    )


def _render_value(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _environment().from_string(value).render(**context)
    if isinstance(value, list):
        return [_render_value(item, context) for item in value]
    if isinstance(value, dict):
        return {key: _render_value(item, context) for key, item in value.items()}
    return value


def role_settings(deployment: str, account: str, region: str) -> dict[str, Any]:
    """The iam role's defaults for a deployment: iam_partition, iam_ecs_source_arn, iam_roles,
    iam_task_roles, iam_retired_roles, and all_roles (what vars/main.yml makes of them: every
    role with its service, source_arn and managed policies)."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    context: dict[str, Any] = {
        "deployment_name": deployment,
        "aws_account_id": account,
        "aws_region": region,
    }
    for name in ("iam_partition", "iam_ecs_source_arn"):
        context[name] = _render_value(defaults[name], context)
    settings = dict(context)
    for name in ("iam_roles", "iam_task_roles", "iam_retired_roles"):
        settings[name] = _render_value(defaults[name], context)
    # roles/iam/vars/main.yml's _iam_all_roles
    task_role = {
        "service": ECS_TASKS,
        "source_arn": settings["iam_ecs_source_arn"],
        "managed_policies": [],
    }
    settings["all_roles"] = settings["iam_roles"] + [
        {**role, **task_role} for role in settings["iam_task_roles"]
    ]
    return settings


def render_template(template: str, settings: dict[str, Any], **variables: Any) -> str:
    """One of the role's templates, as the role renders it; checked to be JSON."""
    text = (
        _environment()
        .get_template(template)
        .render(
            iam_partition=settings["iam_partition"],
            aws_region=settings["aws_region"],
            aws_account_id=settings["aws_account_id"],
            deployment_name=settings["deployment_name"],
            **variables,
        )
    )
    json.loads(text)
    return text


def trust_policy(settings: dict[str, Any], role: dict[str, Any]) -> str:
    return render_template("trust-policy.json.j2", settings, item=role)


WORK_FILE_SYSTEM_ARN = (
    "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0"
)
WORK_ACCESS_POINT_ARN = (
    "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-0123456789abcdef0"
)


def task_policy(
    settings: dict[str, Any], role: dict[str, Any], buckets: dict[str, str], log_group: str
) -> str:
    return render_template(
        "task-policy.json.j2",
        settings,
        item=role,
        iam_bucket_names=buckets,
        iam_log_group_name=log_group,
        iam_work_file_system_arn=WORK_FILE_SYSTEM_ARN,
        iam_work_access_point_arn=WORK_ACCESS_POINT_ARN,
    )
