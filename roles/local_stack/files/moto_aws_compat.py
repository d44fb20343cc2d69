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
    return ["ecs-cluster-empty-capacity-providers", "ecs-list-tags-empty-list"]
