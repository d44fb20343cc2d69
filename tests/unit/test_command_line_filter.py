"""Filter plugin command_line: an option's value replaced in a task definition's command."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import command_line

with_option = command_line.FilterModule().filters()["with_option"]

COMMAND = ["train", "--dataset", "digits", "--epochs", "10", "--output", "s3://b/trained/x y"]


def test_the_value_after_the_option_is_replaced_and_nothing_else():
    assert with_option(COMMAND, "--epochs", 3) == [
        "train", "--dataset", "digits", "--epochs", "3", "--output", "s3://b/trained/x y"
    ]  # fmt: skip
    assert COMMAND[4] == "10", "the task definition's command is left as it was"


def test_a_missing_option_is_added_at_the_end():
    assert with_option(["train"], "--epochs", "2") == ["train", "--epochs", "2"]


@pytest.mark.parametrize(
    ("command", "message"),
    [("train --epochs 3", "not a command"), (["train", "--epochs"], "ends the command")],
)
def test_what_is_not_a_command_is_refused(command, message):
    with pytest.raises(AnsibleFilterError, match=message):
        with_option(command, "--epochs", 1)


with_options = command_line.FilterModule().filters()["with_options"]


def test_with_options_sets_each_option_in_order():
    options = {"--epochs": 3, "--output": "s3://m/trained/x", "--batch-size": 32}
    assert with_options(COMMAND, options) == [
        "train", "--dataset", "digits", "--epochs", "3", "--output", "s3://m/trained/x",
        "--batch-size", "32",
    ]  # fmt: skip
    assert with_options(COMMAND, {}) == COMMAND
    assert COMMAND[4] == "10", "the task definition's command is left as it was"


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        ("train --epochs 3", {"--epochs": 1}, "not a command"),
        (["train"], [("--epochs", 1)], "not a mapping of options"),
        (["train", "--epochs"], {"--epochs": 1}, "ends the command"),
    ],
)
def test_with_options_refuses_what_is_not_a_command_or_options(command, options, message):
    with pytest.raises(AnsibleFilterError, match=message):
        with_options(command, options)


without_option = command_line.FilterModule().filters()["without_option"]


def test_without_option_drops_the_option_and_its_value_everywhere():
    command = ["train", "--data", "s3://a", "--epochs", "2", "--data", "s3://b"]
    assert without_option(command, "--data") == ["train", "--epochs", "2"]
    assert without_option(["train"], "--data") == ["train"]
    assert command[2] == "s3://a", "the task definition's command is left as it was"


@pytest.mark.parametrize(
    ("command", "message"),
    [("train --data x", "not a command"), (["train", "--data"], "ends the command")],
)
def test_without_option_refuses_what_is_not_a_command(command, message):
    with pytest.raises(AnsibleFilterError, match=message):
        without_option(command, "--data")
