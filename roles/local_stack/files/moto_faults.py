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

AWS behaviour that is no error of a request (moto_aws_compat.py reads it from BEHAVIOUR):

    POST /_ecs_dl/spot-fleet-faults {"event_sub_type": "spotInstanceCountLimitExceeded",
                                     "event_type": "error", "description": "...",
                                     "fleets": 1, "attempts": null}
        the next `fleets` Spot Fleets requested (every one while it stands when null) cannot
        launch, as on AWS when the account's Spot vCPU quota is reached, there is no Spot
        capacity, or a role is missing: each launch attempt (the request, a capacity change,
        and every DescribeSpotFleetRequests while the fleet is short, which stands for AWS's
        own retries) launches nothing, sets the request's ActivityStatus to `error` and records
        the event in DescribeSpotFleetRequestHistory (EventType `event_type`, EventInformation
        EventSubType/EventDescription). After `attempts` failed attempts (never when null) the
        fleet launches, as when capacity comes back. Answers {"id": N}.
    POST /_ecs_dl/service-quotas {"service_code": "ec2", "quota_code": "L-34B43A08",
                                  "value": 4}
        Service Quotas' GetServiceQuota answers that value for that quota (see
        moto_aws_compat.py for the local defaults), as for an account whose quota is small.
    GET lists, DELETE removes every one (quotas go back to the local defaults).
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
SPOT_FLEET_FAULTS_PATH = "/_ecs_dl/spot-fleet-faults"
SERVICE_QUOTAS_PATH = "/_ecs_dl/service-quotas"
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
        if path in BEHAVIOUR_PARSERS:
            return behaviour_control(path, environ, start_response)
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


# AWS behaviour settings (spot fleet launch faults, service quotas) -----------------------------


class Behaviour:
    """What the emulated AWS does that is no error of a request; moto_aws_compat.py reads it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: dict[str, list[dict[str, Any]]] = {
            SPOT_FLEET_FAULTS_PATH: [],
            SERVICE_QUOTAS_PATH: [],
        }
        self.next_id = 1

    def add(self, path: str, setting: dict[str, Any]) -> int:
        with self.lock:
            setting["id"] = self.next_id
            self.next_id += 1
            if path == SERVICE_QUOTAS_PATH:  # one value per quota: the newest wins
                self.settings[path] = [
                    s
                    for s in self.settings[path]
                    if (s["service_code"], s["quota_code"])
                    != (setting["service_code"], setting["quota_code"])
                ]
            self.settings[path].append(setting)
            return setting["id"]

    def list(self, path: str, clear: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            found = [dict(s) for s in self.settings[path]]
            if clear:
                self.settings[path] = []
            return found

    def take_spot_fleet_fault(self) -> dict[str, Any] | None:
        """The fault a fleet being requested gets (its `fleets` count spent by one), or None."""
        with self.lock:
            for fault in self.settings[SPOT_FLEET_FAULTS_PATH]:
                if fault["fleets"] is not None and fault["hits"] >= fault["fleets"]:
                    continue
                fault["hits"] += 1
                return dict(fault)
        return None

    def service_quota(self, service_code: str, quota_code: str) -> float | None:
        with self.lock:
            for quota in self.settings[SERVICE_QUOTAS_PATH]:
                if (quota["service_code"], quota["quota_code"]) == (service_code, quota_code):
                    return float(quota["value"])
        return None


BEHAVIOUR = Behaviour()


def _positive_or_null(given: dict[str, Any], key: str, default: int | None) -> int | None:
    value = given.get(key, default)
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"{key} is a positive integer or null")
    return value


def parse_spot_fleet_fault(given: dict[str, Any]) -> dict[str, Any]:
    unknown = set(given) - {"event_type", "event_sub_type", "description", "fleets", "attempts"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    if not given.get("event_sub_type"):
        raise ValueError("event_sub_type is required (e.g. spotInstanceCountLimitExceeded)")
    event_type = str(given.get("event_type", "error"))
    if event_type not in ("error", "information"):
        raise ValueError("event_type is error or information")
    return {
        "event_type": event_type,
        "event_sub_type": str(given["event_sub_type"]),
        "description": str(given.get("description", "")),
        "fleets": _positive_or_null(given, "fleets", 1),
        "attempts": _positive_or_null(given, "attempts", None),
        "hits": 0,
    }


def parse_service_quota(given: dict[str, Any]) -> dict[str, Any]:
    unknown = set(given) - {"service_code", "quota_code", "value"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    if not given.get("quota_code") or not isinstance(given.get("value"), (int, float)):
        raise ValueError("quota_code and a numeric value are required")
    return {
        "service_code": str(given.get("service_code", "ec2")),
        "quota_code": str(given["quota_code"]),
        "value": float(given["value"]),
    }


BEHAVIOUR_PARSERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    SPOT_FLEET_FAULTS_PATH: parse_spot_fleet_fault,
    SERVICE_QUOTAS_PATH: parse_service_quota,
}


def behaviour_control(
    path: str, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "POST":
        try:
            given = json.loads(read_body(environ) or b"{}")
            if not isinstance(given, dict):
                raise ValueError("a setting is a JSON object")
            setting = BEHAVIOUR_PARSERS[path](given)
        except (ValueError, json.JSONDecodeError) as error:
            return json_response(start_response, 400, {"error": str(error)})
        return json_response(start_response, 200, {"id": BEHAVIOUR.add(path, setting)})
    return json_response(
        start_response, 200, {"settings": BEHAVIOUR.list(path, clear=method == "DELETE")}
    )
