#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an S3 bucket sends its object events to Amazon EventBridge."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_bucket_eventbridge
short_description: Turn an S3 bucket's notifications to Amazon EventBridge on or off
description:
  - With O(state=present), the bucket's notification configuration gets
    C(EventBridgeConfiguration), so S3 sends every event of the bucket (C(Object Created),
    C(Object Deleted), ...) to the account's default event bus, where rules pick what they want.
    With O(state=absent), it is taken out. The bucket's other notifications (SNS topics, SQS
    queues, Lambda functions) are kept as they are (S3 replaces the whole configuration on each
    write, so the module writes them back unchanged).
  - Nothing is written when the bucket is already as asked (C(changed=false)). A bucket that does
    not exist fails with O(state=present) and is no change with O(state=absent) (teardown after a
    half-finished run).
  - amazon.aws.s3_bucket and community.aws.s3_bucket_notification do not set the EventBridge
    configuration (the latter manages Lambda, SQS and SNS destinations only).
options:
  bucket:
    description: The bucket's name.
    type: str
    required: true
  state:
    description: Whether the bucket sends its events to EventBridge.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Uploads to the input bucket reach EventBridge
  ecs_dl.deep_learning.s3_bucket_eventbridge:
    bucket: ecs-dl-input-123456789012
"""

RETURN = r"""
eventbridge:
  description: Whether the bucket sends its events to EventBridge now (in check mode, would).
  returned: always
  type: bool
  sample: true
other_notifications:
  description: How many other destinations (topics, queues, functions) the bucket notifies; kept.
  returned: always
  type: int
  sample: 0
"""

from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# The parts of a notification configuration that S3 accepts back (the answer also has metadata).
OTHER_DESTINATIONS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
)


def ensure(module: AnsibleAWSModule, client: Any) -> dict[str, Any]:
    bucket, present = module.params["bucket"], module.params["state"] == "present"
    try:
        current = client.get_bucket_notification_configuration(aws_retry=True, Bucket=bucket)
    except is_boto3_error_code("NoSuchBucket"):
        if present:
            module.fail_json(msg=f"Bucket {bucket} does not exist: nothing can send its events")
        return {"changed": False, "eventbridge": False, "other_notifications": 0}
    kept = {key: current[key] for key in OTHER_DESTINATIONS if current.get(key)}
    others = sum(len(value) for value in kept.values())
    if ("EventBridgeConfiguration" in current) == present:
        return {"changed": False, "eventbridge": present, "other_notifications": others}
    if not module.check_mode:
        wanted = dict(kept, EventBridgeConfiguration={}) if present else kept
        client.put_bucket_notification_configuration(
            aws_retry=True, Bucket=bucket, NotificationConfiguration=wanted
        )
    return {"changed": True, "eventbridge": present, "other_notifications": others}


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            bucket=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    client = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
    try:
        outcome = ensure(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"S3 notification configuration of {module.params['bucket']}")
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
