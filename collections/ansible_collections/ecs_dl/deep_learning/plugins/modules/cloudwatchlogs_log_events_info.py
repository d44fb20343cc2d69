#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the last events of a CloudWatch Logs stream."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatchlogs_log_events_info
short_description: Read the last events of a CloudWatch Logs log stream
description:
  - Reads the newest O(limit) events of one log stream (C(GetLogEvents) from the end), oldest
    first. amazon.aws has modules for log groups but none that reads events; the task
    playbooks show a failed task's last log lines with it.
  - A log group or stream that does not exist has no events (RV(found) is false).
options:
  log_group_name:
    description: Log group.
    type: str
    required: true
  log_stream_name:
    description: Log stream (the awslogs driver names it PREFIX/CONTAINER/TASK_ID).
    type: str
    required: true
  limit:
    description: How many of the newest events to return.
    type: int
    default: 50
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The last log lines of a predict task
  ecs_dl.deep_learning.cloudwatchlogs_log_events_info:
    log_group_name: /ecs/ecs-dl
    log_stream_name: ecs-dl/predict/0123456789abcdef0123456789abcdef
    limit: 20
  register: task_log
"""

RETURN = r"""
found:
  description: Whether the log stream exists.
  returned: always
  type: bool
events:
  description: The events, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    timestamp:
      description: Milliseconds since the epoch.
      type: int
    message:
      description: The line.
      type: str
messages:
  description: Just the lines of RV(events).
  returned: always
  type: list
  elements: str
"""

from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# AWSRetry knows throttling by EC2's and the query APIs' names; CloudWatch Logs, a JSON API,
# answers ThrottlingException. A log stream that is not there is an answer (found: false),
# not retried.
RETRY = AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException"])


def last_events(logs: Any, group: str, stream: str, limit: int) -> list[dict]:
    response = logs.get_log_events(
        aws_retry=True,
        logGroupName=group,
        logStreamName=stream,
        limit=limit,
        startFromHead=False,
    )
    events = [
        {"timestamp": event["timestamp"], "message": event["message"]}
        for event in response.get("events", [])
    ]
    return sorted(events, key=lambda event: event["timestamp"])[-limit:]


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            log_group_name=dict(type="str", required=True),
            log_stream_name=dict(type="str", required=True),
            limit=dict(type="int", default=50),
        ),
        supports_check_mode=True,
    )
    logs = module.client("logs", retry_decorator=RETRY)
    params = module.params
    try:
        events = last_events(
            logs, params["log_group_name"], params["log_stream_name"], params["limit"]
        )
        found = True
    except is_boto3_error_code("ResourceNotFoundException"):
        events, found = [], False
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(
            e, msg=f"log stream {params['log_group_name']}:{params['log_stream_name']}"
        )
    module.exit_json(
        changed=False,
        found=found,
        events=events,
        messages=[event["message"] for event in events],
    )


if __name__ == "__main__":
    main()
