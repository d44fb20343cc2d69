"""Filter plugin registry: which tags image_push pushes, from the registry's manifest digests."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import registry

tags_to_push = registry.FilterModule().filters()["tags_to_push"]

REPOSITORY = "127.0.0.1:5000/ecs-dl/mxnet"
IMAGE = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
PUSHED = [f"{REPOSITORY}@{IMAGE}", f"elsewhere.example/ecs-dl/mxnet@{OTHER}"]


def head(tag: str, status: int, digest: str | None = None) -> dict:
    """One result of the role's looped uri HEAD of /v2/<path>/manifests/<tag>."""
    answer = {"item": tag, "status": status, "changed": False}
    if digest is not None:
        answer["docker_content_digest"] = digest
    return answer


def test_tags_the_registry_has_as_this_image_are_not_pushed_again():
    answers = [head("0123456789ab", 200, IMAGE), head("latest", 200, IMAGE)]
    assert tags_to_push(answers, PUSHED, REPOSITORY) == []


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (head("latest", 404), "the registry has no such tag"),
        (head("latest", 200, OTHER), "the tag is another image (pushed elsewhere by this one)"),
        (head("latest", 200), "the registry names no digest"),
        (head("latest", 200, ""), "the registry names an empty digest"),
        (head("latest", 404, IMAGE), "a digest with a 404 is no manifest"),
    ],
)
def test_a_tag_is_pushed_when_the_registry_does_not_have_this_image_under_it(answer, why):
    answers = [head("0123456789ab", 200, IMAGE), answer]
    assert tags_to_push(answers, PUSHED, REPOSITORY) == ["latest"], why


def test_the_digest_counts_only_in_this_repository():
    answers = [head("latest", 200, OTHER)]
    assert tags_to_push(answers, [f"{REPOSITORY}-old@{OTHER}"], REPOSITORY) == ["latest"]


@pytest.mark.parametrize("repo_digests", [[], None])
def test_an_image_never_pushed_pushes_every_tag_in_order(repo_digests):
    answers = [head("0123456789ab", 200, IMAGE), head("latest", 404)]
    assert tags_to_push(answers, repo_digests, REPOSITORY) == ["0123456789ab", "latest"]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ("latest", "not a list of registry answers"),
        ([{"status": 200}], "without item"),
        ([{"item": "latest"}], "without item"),
        (["latest"], "without item"),
    ],
)
def test_what_is_not_a_list_of_registry_answers_is_refused(answers, message):
    with pytest.raises(AnsibleFilterError, match=message):
        tags_to_push(answers, PUSHED, REPOSITORY)
