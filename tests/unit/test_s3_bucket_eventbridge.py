"""The collection's s3_bucket_eventbridge module against moto's S3: EventBridge notifications
turned on once (changed, then not), the bucket's other notifications kept, turned off, a missing
bucket refused with state=present and no change with state=absent; check mode writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import moto_launcher


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """The local target's moto (moto_aws_compat fix 17: plain moto leaves EventBridgeConfiguration
    out of its answer, so nothing could see that it is on)."""
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture()
def bucket(aws: Callable[[str], Any], request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("_", "-")[:50].strip("-")
    aws("s3").create_bucket(Bucket=name)
    return name


def configuration(aws: Callable[[str], Any], bucket: str) -> dict[str, Any]:
    answer = aws("s3").get_bucket_notification_configuration(Bucket=bucket)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_turned_on_once_then_left_as_it_is(run_module, aws, bucket: str) -> None:
    checked = run_module("s3_bucket_eventbridge", bucket=bucket, _ansible_check_mode=True)
    assert checked["changed"] is True
    assert "EventBridgeConfiguration" not in configuration(aws, bucket)

    first = run_module("s3_bucket_eventbridge", bucket=bucket)
    assert (first["changed"], first["eventbridge"]) == (True, True)
    assert "EventBridgeConfiguration" in configuration(aws, bucket)

    again = run_module("s3_bucket_eventbridge", bucket=bucket)
    assert (again["changed"], again["eventbridge"]) == (False, True)


def test_the_buckets_other_notifications_are_kept(run_module, aws, bucket: str) -> None:
    queue = aws("sqs").create_queue(QueueName=bucket)["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws("s3").put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}]
        },
    )
    on = run_module("s3_bucket_eventbridge", bucket=bucket)
    assert (on["changed"], on["other_notifications"]) == (True, 1)
    after = configuration(aws, bucket)
    assert "EventBridgeConfiguration" in after
    assert [q["QueueArn"] for q in after["QueueConfigurations"]] == [queue_arn]

    off = run_module("s3_bucket_eventbridge", bucket=bucket, state="absent")
    assert (off["changed"], off["eventbridge"]) == (True, False)
    after = configuration(aws, bucket)
    assert "EventBridgeConfiguration" not in after
    assert [q["QueueArn"] for q in after["QueueConfigurations"]] == [queue_arn]
    assert run_module("s3_bucket_eventbridge", bucket=bucket, state="absent")["changed"] is False


def test_a_missing_bucket(run_module) -> None:
    refused = run_module("s3_bucket_eventbridge", bucket="no-such-bucket-here", expect_failure=True)
    assert (
        refused["msg"] == "Bucket no-such-bucket-here does not exist: nothing can send its events"
    )
    gone = run_module("s3_bucket_eventbridge", bucket="no-such-bucket-here", state="absent")
    assert (gone["changed"], gone["eventbridge"]) == (False, False)
