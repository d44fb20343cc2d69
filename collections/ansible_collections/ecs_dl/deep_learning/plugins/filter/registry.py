# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image pushes, decided from the registry's manifest digests.

- ``answers | tags_to_push(repo_digests, repository)``: the tags (in the order asked) whose
  manifest in the registry is not the local image's. ``answers`` are the results of a looped
  ``ansible.builtin.uri`` HEAD of ``/v2/<path>/manifests/<tag>`` (``item``: the tag,
  ``status``: 200 or 404, ``docker_content_digest``: the registry's digest);
  ``repo_digests`` is the local image's ``RepoDigests`` (``<repository>@sha256:...``, the
  manifests it was pushed as). A tag is pushed when the registry has no manifest for it, names
  no digest, or names one that is not among the image's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def tags_to_push(answers: Any, repo_digests: Any, repository: str) -> list[str]:
    if not isinstance(answers, Sequence) or isinstance(answers, str):
        raise AnsibleFilterError(f"tags_to_push: not a list of registry answers: {answers!r}")
    pushed = set(repo_digests or [])
    tags = []
    for answer in answers:
        if not isinstance(answer, Mapping) or "item" not in answer or "status" not in answer:
            raise AnsibleFilterError(
                f"tags_to_push: a registry answer without item (the tag) and status: {answer!r}"
            )
        digest = answer.get("docker_content_digest") or "" if answer["status"] == 200 else ""
        if not digest or f"{repository}@{digest}" not in pushed:
            tags.append(answer["item"])
    return tags


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"tags_to_push": tags_to_push}
