"""Faults on demand in the local target's AWS endpoint: errors as AWS sends them.

moto_launcher.py wraps moto's WSGI app in FaultInjector. Tests use it to make the emulated AWS
do what the real one does now and then (throttle, answer 500, not know a resource it has just
created) and check that the playbooks and modules cope; the clients are never touched.

    POST /_ecs_dl/faults   {"service": "ecs", "action": "DescribeTasks",
                            "code": "ThrottlingException", "status": 400, "count": 3,
                            "access_key": "*"}
        adds a rule: the next `count` matching requests (every one while the rule stands when
        count is null) are answered with that error, in the service's own error format.
        service is the signing name of the request's credential scope ("ec2", "ecs", "s3",
        "iam", "*"); action the API operation ("RunTask", "*"; S3 requests have none, use "*");
        access_key the signing access key id ("*": any), so that a test can fail one client's
        requests (a playbook run with its own key) while the ECS agent's go on, as on AWS when
        the credentials of whoever runs the playbook are revoked.
        Answers {"id": N}.
    GET /_ecs_dl/faults    the rules, with how many requests each has failed ("hits").
    DELETE /_ecs_dl/faults every rule goes; answers the rules as they were.

Requests to /moto-api/ and /_ecs_dl/ are never failed.
"""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

PATH = "/_ecs_dl/faults"
SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
# Services whose API speaks the query protocol with EC2's error shape, or the generic one.
EC2_STYLE = {"ec2"}
QUERY_STYLE = {"iam", "sts", "autoscaling", "elasticloadbalancing", "cloudformation", "sns", "sqs"}
REST_XML_STYLE = {"s3"}

StartResponse = Callable[..., Any]


class FaultInjector:
    """WSGI middleware: answers matching requests with an AWS error instead of moto's answer."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.rules: list[dict[str, Any]] = []
        self.next_id = 1

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == PATH:
            return self.control(environ, start_response)
        if path.startswith("/moto-api/") or not self.rules:
            return self.app(environ, start_response)
        access_key, service, action = self.identify(environ)
        rule = self.take(access_key, service, action)
        if rule is None:
            return self.app(environ, start_response)
        return error_response(service, rule, start_response)

    # The control API -----------------------------------------------------------------------

    def control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        with self.lock:
            if method == "POST":
                try:
                    rule = parse_rule(read_body(environ))
                except ValueError as error:
                    return json_response(start_response, 400, {"error": str(error)})
                rule["id"] = self.next_id
                self.next_id += 1
                self.rules.append(rule)
                return json_response(start_response, 200, {"id": rule["id"]})
            rules = [dict(rule) for rule in self.rules]
            if method == "DELETE":
                self.rules = []
            return json_response(start_response, 200, {"rules": rules})

    # Matching ------------------------------------------------------------------------------

    def identify(self, environ: dict[str, Any]) -> tuple[str, str, str]:
        """The request's access key and service (credential scope) and its operation, as well
        as they can be told."""
        match = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, service = match.groups() if match else ("", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            return access_key, service, target.rsplit(".", 1)[-1]
        if environ.get("REQUEST_METHOD") == "POST" and "form-urlencoded" in environ.get(
            "CONTENT_TYPE", ""
        ):
            body = read_body(environ)
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
            return access_key, service, action
        return access_key, service, ""

    def take(self, access_key: str, service: str, action: str) -> dict[str, Any] | None:
        """The first rule matching the request, its count spent by one; None if none match."""
        with self.lock:
            for rule in self.rules:
                if (
                    rule["service"] not in ("*", service)
                    or rule["action"] not in ("*", action)
                    or rule["access_key"] not in ("*", access_key)
                ):
                    continue
                if rule["count"] is not None and rule["hits"] >= rule["count"]:
                    continue
                rule["hits"] += 1
                return dict(rule)
        return None


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so that moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def parse_rule(body: bytes) -> dict[str, Any]:
    """A rule from the control API's JSON, with defaults; ValueError when it is not one."""
    try:
        given = json.loads(body or b"{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(given, dict):
        raise ValueError("a rule is a JSON object")
    unknown = set(given) - {"service", "action", "code", "message", "status", "count", "access_key"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    count = given.get("count", 1)
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("count is a positive integer or null (until the rules are deleted)")
    code = str(given.get("code", "ThrottlingException"))
    return {
        "service": str(given.get("service", "*")),
        "action": str(given.get("action", "*")),
        "access_key": str(given.get("access_key", "*")),
        "code": code,
        "message": str(given.get("message", f"{code} (injected by the local target)")),
        "status": int(given.get("status", 400)),
        "count": count,
        "hits": 0,
    }


def json_response(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        f"{status} {'OK' if status == 200 else 'Bad Request'}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def error_response(
    service: str, rule: dict[str, Any], start_response: StartResponse
) -> list[bytes]:
    """The error in the shape the service's protocol has, so that botocore parses its code."""
    request_id = str(uuid.uuid4())
    code, message = rule["code"], rule["message"]
    if service in EC2_STYLE:
        content_type = "text/xml"
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif service in QUERY_STYLE:
        content_type = "text/xml"
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    elif service in REST_XML_STYLE:
        content_type = "application/xml"
        body = (
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        content_type = "application/x-amz-json-1.1"
        body = json.dumps({"__type": code, "message": message})
    data = body.encode()
    start_response(
        f"{rule['status']} Injected",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ],
    )
    return [data]
