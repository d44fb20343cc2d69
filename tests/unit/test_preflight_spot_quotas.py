"""Preflight refuses a Spot Fleet the account's Spot vCPU quota cannot run, before anything exists.

The endpoint is the local target's moto (moto_launcher.py on a free port): moto_aws_compat.py's
fix 10 answers Service Quotas' GetServiceQuota for the Spot vCPU quotas with a local value
large enough for any fleet, or with the small value a test sets through moto_faults'
POST /_ecs_dl/service-quotas, as a new AWS account has.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.ecs_dl.deep_learning.plugins.modules import ecs_dl_preflight as mod

from tests.conftest import moto_launcher
from tests.unit.conftest import run_library_module

SERVICE_QUOTAS = "/_ecs_dl/service-quotas"
DEFAULT_TYPES = ["m5.large", "m5a.large", "m4.large"]  # roles/preflight's defaults


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def control(url: str, method: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def quota(endpoint: str) -> Iterator[Callable[[str, float], None]]:
    url = endpoint + SERVICE_QUOTAS
    control(url, "DELETE")
    yield lambda code, value: control(url, "POST", {"quota_code": code, "value": value}) and None
    control(url, "DELETE")


def preflight(tmp_path: Path, endpoint: str, **args: Any) -> tuple[int, dict]:
    return run_library_module(
        "ecs_dl_preflight",
        {
            "checks": "aws",
            "region": "us-east-1",
            "endpoint_url": endpoint,
            "access_key": "testing",
            "secret_key": "testing",
            "spot_fleet_instance_types": DEFAULT_TYPES,
            "spot_fleet_target_capacity": 1,
            **args,
        },
        tmp_path / "args.json",
    )


def test_the_default_fleet_passes_on_the_local_target(tmp_path: Path, endpoint: str, quota) -> None:
    rc, result = preflight(tmp_path, endpoint)
    assert rc == 0, result
    (checked,) = result["spot_vcpu_quotas"]
    assert checked["quota_code"] == "L-34B43A08" and checked["wanted"] == 2
    assert checked["value"] >= 50 * 2  # the largest fleet of the default types passes too


def test_a_fleet_over_the_standard_quota_is_refused_with_how_to_ask(
    tmp_path: Path, endpoint: str, quota
) -> None:
    quota("L-34B43A08", 4)
    rc, result = preflight(tmp_path, endpoint, spot_fleet_target_capacity=3)
    assert rc != 0
    msg = result["msg"]
    assert "Spot vCPU quota L-34B43A08" in msg and "is 4 vCPUs" in msg, msg
    assert "spot_fleet_target_capacity 3 x 2 vCPUs" in msg and "may need 6" in msg, msg
    assert (
        "aws service-quotas request-service-quota-increase --service-code ec2 "
        "--quota-code L-34B43A08 --desired-value 6 --region us-east-1"
    ) in msg
    assert "Nothing was created" in msg and "\n" not in msg


def test_a_fleet_within_a_small_quota_passes(tmp_path: Path, endpoint: str, quota) -> None:
    quota("L-34B43A08", 4)
    rc, result = preflight(tmp_path, endpoint, spot_fleet_target_capacity=2)
    assert rc == 0, result


def test_gpu_types_are_checked_against_the_g_and_vt_quota(
    tmp_path: Path, endpoint: str, quota
) -> None:
    quota("L-3819A6DF", 0)  # a new account's G and VT Spot quota
    rc, result = preflight(tmp_path, endpoint, spot_fleet_instance_types=["g4dn.xlarge"])
    assert rc != 0
    assert "L-3819A6DF (All G and VT Spot Instance Requests)" in result["msg"]
    assert "is 0 vCPUs" in result["msg"] and "--desired-value 4" in result["msg"]


@pytest.mark.parametrize(
    ("instance_type", "code"),
    [
        ("m5.large", "L-34B43A08"),
        ("c7g.xlarge", "L-34B43A08"),
        ("t3.micro", "L-34B43A08"),
        ("r6i.large", "L-34B43A08"),
        ("im4gn.large", "L-34B43A08"),
        ("z1d.large", "L-34B43A08"),
        ("g4dn.xlarge", "L-3819A6DF"),
        ("g5.xlarge", "L-3819A6DF"),
        ("vt1.3xlarge", "L-3819A6DF"),
        ("p3.2xlarge", None),
        ("inf1.xlarge", None),
        ("dl1.24xlarge", None),
        ("x2idn.large", None),
    ],
)
def test_the_quota_of_each_family(instance_type: str, code: str | None) -> None:
    quota = mod.spot_quota_of(instance_type)
    assert (quota[0] if quota else None) == code
