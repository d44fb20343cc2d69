#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Get an ECR authorization token, split into the user name and password docker login takes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_authorization_token
short_description: Get an ECR authorization token for docker login
description:
  - Calls ECR C(GetAuthorizationToken) and returns the token as the C(username) and
    C(password) that C(community.docker.docker_login) takes, with the registry endpoint and
    when the token expires (12 hours on AWS).
  - The password is a secret. Set O(ignore:no_log=true) on the task that calls this module
    and on every task that uses the password. The module never puts the token in an error
    message.
  - It only reads, so it runs in check mode too, and it never reports a change.
options:
  registry_ids:
    description:
      - AWS account ids of the registries to get a token for. The default is the caller's
        account. Only the first registry's token is returned.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Get a token for the account's ECR registry
  ecs_dl.deep_learning.ecr_authorization_token:
  register: ecr_token
  no_log: true

- name: Log in to ECR with it
  community.docker.docker_login:
    registry_url: "{{ ecr_token.proxy_endpoint }}"
    username: "{{ ecr_token.username }}"
    password: "{{ ecr_token.password }}"
  no_log: true
"""

RETURN = r"""
username:
  description: User name for docker login (C(AWS)).
  returned: success
  type: str
  sample: AWS
password:
  description: Password for docker login. A secret; valid until I(expires_at).
  returned: success
  type: str
proxy_endpoint:
  description: The registry endpoint to log in to.
  returned: success
  type: str
  sample: https://123456789012.dkr.ecr.us-east-1.amazonaws.com
registry:
  description: I(proxy_endpoint) without its scheme, as image names use it.
  returned: success
  type: str
  sample: 123456789012.dkr.ecr.us-east-1.amazonaws.com
expires_at:
  description: When the token expires, ISO 8601.
  returned: success
  type: str
  sample: "2025-01-01T12:00:00+00:00"
"""

import base64
import binascii
from datetime import datetime
from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def connect(module: AnsibleAWSModule) -> Any:
    """The ECR client (replaced in the unit tests). AWSRetry knows throttling by EC2's and the
    query APIs' names; ECR, a JSON API, answers ThrottlingException."""
    retry = AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException"])
    return module.client("ecr", retry_decorator=retry)


def get_authorization_data(ecr: Any, registry_ids: list[str]) -> list[dict]:
    """ECR GetAuthorizationToken's authorizationData list."""
    params: dict[str, Any] = {"registryIds": registry_ids} if registry_ids else {}
    return ecr.get_authorization_token(aws_retry=True, **params).get("authorizationData", [])


class TokenError(Exception):
    """A token that cannot be used; the message never contains the token."""


def split_token(data: dict) -> dict[str, str]:
    """One authorizationData entry as username, password, proxy_endpoint, registry, expires_at."""
    try:
        decoded = base64.b64decode(data["authorizationToken"], validate=True).decode("utf-8")
    except (KeyError, binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenError("ECR returned an authorization token that is not base64 text") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username or not password:
        raise TokenError("ECR returned an authorization token that is not 'user:password'")
    endpoint = data.get("proxyEndpoint") or ""
    expires = data.get("expiresAt")
    return {
        "username": username,
        "password": password,
        "proxy_endpoint": endpoint,
        "registry": endpoint.split("://", 1)[-1].rstrip("/"),
        "expires_at": expires.isoformat() if isinstance(expires, datetime) else str(expires or ""),
    }


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(registry_ids=dict(type="list", elements="str", default=[])),
        supports_check_mode=True,
    )
    ecr = connect(module)
    try:
        entries = get_authorization_data(ecr, module.params["registry_ids"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not get an ECR authorization token")
    if not entries:
        module.fail_json(msg="ECR returned no authorization data")
    try:
        token = split_token(entries[0])
    except TokenError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **token)


if __name__ == "__main__":
    main()
