"""Make moto 5.2.x answer like AWS where the project's modules depend on it.

Imported by moto_launcher.py in the server process, before the server starts. Each fix below
changes what the emulated AWS answers, never the clients: the playbooks and modules talk to
this server through `endpoint_url` exactly as they would talk to AWS.

1. ECS DescribeClusters: AWS always returns `capacityProviders` and
   `defaultCapacityProviderStrategy` (empty lists when none are set); moto leaves them out,
   and community.aws.ecs_cluster fails on its second run with KeyError: 'capacityProviders'.
2. ECS ListTagsForResource: AWS always returns `tags` (an empty list for an untagged
   resource); moto leaves it out for an untagged cluster, and community.aws.ecs_tag fails
   with KeyError: 'tags'.
3. EC2 DeleteLaunchTemplateVersions: moto answers HTTP 500 (not implemented);
   amazon.aws.ec2_launch_template calls it on state=absent when a template has more than one
   version. Implemented here as AWS does it: the default version cannot be deleted, a
   deleted version is no longer described, the rest are reported in
   Successfully/UnsuccessfullyDeletedLaunchTemplateVersions.
"""

from __future__ import annotations

from typing import Any


def apply() -> list[str]:
    """Apply every fix; return their names (the launcher logs them)."""
    from moto.ecs import models as ecs_models

    original_init = ecs_models.Cluster.__init__

    def cluster_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        for attribute in ("capacity_providers", "default_capacity_provider_strategy", "tags"):
            if getattr(self, attribute, None) is None:
                setattr(self, attribute, [])

    ecs_models.Cluster.__init__ = cluster_init  # type: ignore[method-assign]

    original_list_tags = ecs_models.EC2ContainerServiceBackend.list_tags_for_resource

    def list_tags_for_resource(self: Any, resource_arn: str) -> list[dict[str, str]]:
        return original_list_tags(self, resource_arn) or []

    ecs_models.EC2ContainerServiceBackend.list_tags_for_resource = list_tags_for_resource  # type: ignore[method-assign]

    _add_delete_launch_template_versions()
    return [
        "ecs-cluster-empty-capacity-providers",
        "ecs-list-tags-empty-list",
        "ec2-delete-launch-template-versions",
    ]


def _add_delete_launch_template_versions() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models import launch_templates as lt_models
    from moto.ec2.responses.launch_templates import LaunchTemplates

    backend_class = lt_models.LaunchTemplateBackend
    original_describe = backend_class.describe_launch_template_versions

    def describe_versions(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        found = original_describe(self, *args, **kwargs)
        return [
            (template, version)
            for template, version in found
            if version.number not in getattr(template, "deleted_version_numbers", set())
        ]

    def delete_versions(self: Any) -> ActionResult:
        name = self._get_param("LaunchTemplateName")
        template_id = self._get_param("LaunchTemplateId")
        template = (
            self.ec2_backend.get_launch_template_by_name(name)
            if name
            else self.ec2_backend.get_launch_template(template_id)
        )
        deleted = template.__dict__.setdefault("deleted_version_numbers", set())
        succeeded, failed = [], []
        for number in (int(v) for v in self._get_param("Versions", [])):
            entry = {
                "LaunchTemplateId": template.id,
                "LaunchTemplateName": template.name,
                "VersionNumber": number,
            }
            if number == template.default_version_number:
                code, message = (
                    "launchTemplateVersionIsDefault",
                    "default version",
                )
            elif number < 1 or number > len(template.versions) or number in deleted:
                code, message = "launchTemplateVersionDoesNotExist", "no such version"
            else:
                deleted.add(number)
                succeeded.append(entry)
                continue
            failed.append({**entry, "ResponseError": {"Code": code, "Message": message}})
        return ActionResult(
            {
                "SuccessfullyDeletedLaunchTemplateVersions": succeeded,
                "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
            }
        )

    backend_class.describe_launch_template_versions = describe_versions  # type: ignore[method-assign]
    LaunchTemplates.delete_launch_template_versions = delete_versions  # type: ignore[attr-defined]
