"""Filter plugin task_memory: the task definitions' hard memory limits, checked before ECS sees
them (task_definitions/tasks/present.yml; test_task_definition_memory.py runs the role)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import task_memory

memory_limit_problems = task_memory.FilterModule().filters()["memory_limit_problems"]

FAMILIES = {"jupyter": "dn-jupyter", "predict": "dn-predict", "train": "dn-train"}
RESERVATION = {"jupyter": 1024, "predict": 512, "train": 1024}


def test_limits_above_their_reservation_are_fine():
    memory = {"jupyter": 4096, "predict": "1024", "train": " 2048 "}
    assert memory_limit_problems(FAMILIES, memory, RESERVATION) == []


@pytest.mark.parametrize(
    ("limit", "problem"),
    [
        (512, "task_definitions_memory.predict=512: the hard limit (MiB) must be more than the"
              " reservation, 512"),
        ("256", "task_definitions_memory.predict=256: the hard limit (MiB) must be more than the"
                " reservation, 512"),
        ("lots", "task_definitions_memory.predict=lots: not a whole number of MiB"),
        ("1.5", "task_definitions_memory.predict=1.5: not a whole number of MiB"),
        ("-1", "task_definitions_memory.predict=-1: not a whole number of MiB"),
        ("", "task_definitions_memory.predict=: not a whole number of MiB"),
    ],
)  # fmt: skip
def test_a_limit_that_is_no_number_or_not_above_the_reservation_is_one_line(limit, problem):
    memory = {"jupyter": 4096, "predict": limit, "train": 2048}
    assert memory_limit_problems(FAMILIES, memory, RESERVATION) == [problem]


def test_every_family_is_checked_in_order_and_a_missing_limit_is_no_number():
    problems = memory_limit_problems(FAMILIES, {"predict": 100}, RESERVATION)
    assert problems == [
        "task_definitions_memory.jupyter=: not a whole number of MiB",
        "task_definitions_memory.predict=100: the hard limit (MiB) must be more than the"
        " reservation, 512",
        "task_definitions_memory.train=: not a whole number of MiB",
    ]


@pytest.mark.parametrize(("reservation", "limit_ok"), [({}, 1), ({"jupyter": "x"}, 1),
                                                       ({"jupyter": "99.9"}, 100)])  # fmt: skip
def test_a_missing_or_unreadable_reservation_counts_as_jinja_reads_it(reservation, limit_ok):
    assert memory_limit_problems({"jupyter": "j"}, {"jupyter": limit_ok}, reservation) == []
    assert memory_limit_problems({"jupyter": "j"}, {"jupyter": 0}, reservation) != []


def test_the_variable_is_named_as_given():
    assert memory_limit_problems({"a": 1}, {"a": "x"}, {}, name="m") == [
        "m.a=x: not a whole number of MiB"
    ]


@pytest.mark.parametrize("bad", [None, ["jupyter"], "jupyter"])
def test_what_is_not_a_mapping_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="is not a mapping"):
        memory_limit_problems(bad, {}, {})
    with pytest.raises(AnsibleFilterError, match="memory is not a mapping"):
        memory_limit_problems(FAMILIES, bad, {})
