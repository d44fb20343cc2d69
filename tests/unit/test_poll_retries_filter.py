"""Filter plugin polling: the `retries:` of a bounded wait (`until`, `retries`, `delay`)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import polling

poll_retries = polling.FilterModule().filters()["poll_retries"]


@pytest.mark.parametrize(
    ("timeout", "every", "retries"),
    [
        (600, 5, 120),  # network_delete_timeout / network_delete_poll
        (300, 2, 150),  # jupyter_service_wait_timeout, every 2 s
        (3600, 5, 720),  # image_build_async_timeout, every 5 s
        (30, 5, 6),  # image_build_progress_every, every 5 s
        (60, 1, 60),  # local_stack_wait_timeout, every second
        (301, 2, 151),  # a part of a poll is a whole poll more: never give up early
        (7, 5, 2),
        ("600", "5", 120),  # role variables from -e are strings
        (1.5, 1, 2),
    ],
)
def test_retries_are_the_polls_that_cover_the_timeout(timeout, every, retries):
    assert poll_retries(timeout, every) == retries


@pytest.mark.parametrize(("timeout", "every"), [(0, 5), (1, 5), (4, 5), (5, 5)])
def test_at_least_one_retry(timeout, every):
    assert poll_retries(timeout, every) == 1


@pytest.mark.parametrize("timeout", [1, 2, 5, 7, 59, 60, 61, 300, 3600])
@pytest.mark.parametrize("every", [1, 2, 5, 10, 30])
def test_the_wait_ends_within_one_poll_after_the_timeout(timeout, every):
    # Ansible makes retries + 1 attempts, with `delay` seconds before each but the first.
    waited = poll_retries(timeout, every) * every
    assert timeout <= waited < timeout + every


@pytest.mark.parametrize(
    ("timeout", "every", "message"),
    [
        ("soon", 5, "timeout is not a number"),
        (None, 5, "timeout is not a number"),
        (600, "", "delay is not a number"),
        (600, "nan", "delay is not a number"),
        (-1, 5, "timeout is negative"),
        (600, 0, "delay is not positive"),
        (600, -2, "delay is not positive"),
    ],
)
def test_what_is_no_wait_is_refused(timeout, every, message):
    with pytest.raises(AnsibleFilterError, match=message):
        poll_retries(timeout, every)
