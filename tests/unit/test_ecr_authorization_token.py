"""Unit tests for the module ecr_authorization_token, with the ECR call replaced."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.ecs_dl.deep_learning.plugins.modules import ecr_authorization_token as mod

SECRET = "eyJwYXlsb2FkIjoic2VjcmV0In0="  # what the password looks like: long base64 text
ENDPOINT = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _entry(token: str = f"AWS:{SECRET}", endpoint: str = ENDPOINT) -> dict[str, Any]:
    return {
        "authorizationToken": base64.b64encode(token.encode()).decode(),
        "expiresAt": EXPIRES,
        "proxyEndpoint": endpoint,
    }


class FakeECR:
    """Stands for get_authorization_data: records the registry ids it was asked for."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.calls: list[list[str]] = []

    def __call__(self, ecr: Any, registry_ids: list[str]) -> list[dict[str, Any]]:
        self.calls.append(registry_ids)
        return self.entries


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeECR:
    api = FakeECR([_entry()])
    monkeypatch.setattr(mod, "connect", lambda module: "ecr")
    monkeypatch.setattr(mod, "get_authorization_data", api)
    return api


def run(capsys: pytest.CaptureFixture, args: dict, check_mode: bool = False) -> dict:
    args = {"region": "us-east-1", **args}
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        mod.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    result["rc"] = exit_info.value.code
    result["raw"] = out
    return result


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_returns_username_password_endpoint_expiry(fake: FakeECR, capsys, check_mode) -> None:
    result = run(capsys, {}, check_mode=check_mode)
    assert result["rc"] == 0
    assert result["changed"] is False
    assert result["username"] == "AWS"
    assert result["password"] == SECRET
    assert result["proxy_endpoint"] == ENDPOINT
    assert result["registry"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert result["expires_at"] == "2030-01-02T03:04:05+00:00"
    assert "authorizationToken" not in result["raw"], "the raw token must not be returned"
    assert fake.calls == [[]]


def test_passes_registry_ids(fake: FakeECR, capsys) -> None:
    run(capsys, {"registry_ids": ["111122223333"]})
    assert fake.calls == [["111122223333"]]


def test_password_may_contain_colons(fake: FakeECR, capsys) -> None:
    fake.entries = [_entry("AWS:a:b:c")]
    result = run(capsys, {})
    assert (result["username"], result["password"]) == ("AWS", "a:b:c")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"authorizationToken": "%%% not base64", "proxyEndpoint": ENDPOINT}, "not base64"),
        (_entry(token="no-separator-" + SECRET), "not 'user:password'"),
        (_entry(token=":" + SECRET), "not 'user:password'"),
        ({"proxyEndpoint": ENDPOINT}, "not base64"),
    ],
    ids=["not-base64", "no-colon", "no-user", "no-token"],
)
def test_bad_token_fails_without_showing_it(fake: FakeECR, capsys, entry, message) -> None:
    fake.entries = [entry]
    result = run(capsys, {})
    assert result["rc"] == 1 and result.get("failed") is True
    assert message in result["msg"]
    assert SECRET not in result["raw"]


def test_no_authorization_data_fails(fake: FakeECR, capsys) -> None:
    fake.entries = []
    result = run(capsys, {})
    assert result["rc"] == 1 and "no authorization data" in result["msg"]


def test_split_token_handles_missing_expiry() -> None:
    entry = _entry(endpoint="http://127.0.0.1:5101/")
    del entry["expiresAt"]
    token = mod.split_token(entry)
    assert token["expires_at"] == ""
    assert token["registry"] == "127.0.0.1:5101"


def test_get_authorization_data_calls_ecr() -> None:
    calls: list[dict[str, Any]] = []

    class Client:
        def get_authorization_token(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"authorizationData": [_entry()]}

    assert mod.get_authorization_data(Client(), []) == [_entry()]
    assert mod.get_authorization_data(Client(), ["1"]) == [_entry()]
    assert calls == [{"aws_retry": True}, {"aws_retry": True, "registryIds": ["1"]}]
