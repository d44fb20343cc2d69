"""What someone who reaches the local target's endpoint may not do with it (issue 15, item 1).

Anyone who reaches the emulated ECS (every local user; every container through the agent's
relay) can register a task definition. The local ECS agent refuses the ones that would be root
on the machine, and the endpoint keeps its control paths (/moto-api/, /_ecs_dl/) to 127.0.0.1,
while the relay, from which the containers' requests come, connects from 127.0.0.2.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from tests.conftest import moto_launcher

# What the project's own definitions look like (roles/task_definitions/vars/main.yml).
PROJECT = {
    "name": "predict",
    "image": "127.0.0.1:5101/ecs-dl/mxnet@sha256:" + "0" * 64,
    "user": "61000",
    "privileged": False,
    "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"privileged": True}, "ECS_DISABLE_PRIVILEGED=true"),
        ({"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "SYS_ADMIN"),
        (
            {"linuxParameters": {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}},
            "NET_ADMIN",
        ),
        ({"user": "0"}, "is root"),
        ({"user": "root"}, "is root"),
        ({"user": "00"}, "is root"),
        ({"user": "0:61000"}, "is root"),
        ({"user": "61000:0"}, "is root"),
        ({"user": "61000:root"}, "is root"),
        ({"user": " root "}, "is root"),
        ({"user": ""}, "names no user"),
        ({"user": None}, "names no user"),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else value,
)
def test_the_agent_refuses_what_would_be_root_on_the_machine(
    agent_module: Any, change: dict[str, Any], reason: str
) -> None:
    spec = {key: value for key, value in {**PROJECT, **change}.items() if value is not None}
    refused = agent_module.refusal(spec)
    assert refused and reason in refused, refused


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"user": "61000:61000"},
        {"user": "1234"},
        {"user": "jovyan"},
        {"linuxParameters": {"capabilities": {"drop": ["ALL"], "add": []}}},
        {"readonlyRootFilesystem": True},
    ],
    ids=lambda value: json.dumps(value),
)
def test_the_agent_runs_the_projects_own_shapes(agent_module: Any, change: dict) -> None:
    assert agent_module.refusal({**PROJECT, **change}) is None


# -- the endpoint's control paths -------------------------------------------------------------


def _get(url: str, source: str) -> tuple[int, bytes]:
    """GET url with the connection made from `source` (a loopback address)."""

    class SourceConnection(urllib.request.HTTPHandler):
        def http_open(self, request: Any) -> Any:
            import http.client

            return self.do_open(
                lambda host, **kw: http.client.HTTPConnection(
                    host, source_address=(source, 0), **kw
                ),
                request,
            )

    opener = urllib.request.build_opener(SourceConnection)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def launcher_port() -> Any:
    with moto_launcher() as port:
        yield port


@pytest.mark.parametrize(
    "path", ["/moto-api/", "/moto-api/data.json", "/_ecs_dl/faults", "/_ecs_dl/settings"]
)
def test_the_control_paths_answer_127_0_0_1_only(launcher_port: int, path: str) -> None:
    status, _ = _get(f"http://127.0.0.1:{launcher_port}{path}", "127.0.0.1")
    assert status == 200, path
    status, body = _get(f"http://127.0.0.1:{launcher_port}{path}", "127.0.0.2")
    assert status == 403, (path, status, body[:200])
    assert b"127.0.0.1 only" in body


def test_the_aws_apis_answer_the_relays_address(launcher_port: int) -> None:
    """What the containers use, through the relay (from 127.0.0.2), still works."""
    status, body = _get(
        f"http://127.0.0.1:{launcher_port}/?Action=GetCallerIdentity&Version=2011-06-15",
        "127.0.0.2",
    )
    # No signature: STS answers (moto does not check it), never the guard's 403.
    assert status != 403, body[:300]
    assert b"the emulator's control endpoints" not in body


def test_the_agents_relay_connects_from_the_address_the_guard_refuses(
    agent_module: Any, launcher_port: int
) -> None:
    """The relay (what the containers reach as host.docker.internal) forwards the AWS APIs and
    is refused the control paths: a container cannot register fault rules, reset moto or dump
    every backend (/moto-api/data.json holds the SSM SecureString values)."""
    stopping = threading.Event()
    # The relay listens on a loopback address of its own and forwards to 127.0.0.1:PORT; the
    # listening port must be the forwarded one (it relays PORT to PORT).
    agent_module.relay("127.0.0.3", launcher_port, stopping)
    try:
        base = f"http://127.0.0.3:{launcher_port}"
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        sts = session.client("sts", endpoint_url=base)
        assert sts.get_caller_identity()["Account"]
        for path in ("/moto-api/data.json", "/_ecs_dl/faults"):
            status, _ = _get(base + path, "127.0.0.1")
            assert status == 403, path
    finally:
        stopping.set()
