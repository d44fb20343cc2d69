"""docker/jupyter_server_config.py, the image's Jupyter settings, as traitlets loads them.

traitlets runs a config file with `get_config` in its namespace and reads what the file set on
`c`; here a small stand-in records every `c.Section.name = value` (no jupyter_server needed).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from tests.tls import self_signed

CONFIG = Path(__file__).resolve().parents[2] / "docker" / "jupyter_server_config.py"
HASH = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA"


class Section:
    """One configurable class's settings, as they are set."""

    def __init__(self) -> None:
        self.__dict__["settings"] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        self.settings[name] = value


class Config:
    """`c`: a section for every class the file names."""

    def __init__(self) -> None:
        self.sections: dict[str, Section] = {}

    def __getattr__(self, name: str) -> Section:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.sections.setdefault(name, Section())


@pytest.fixture(autouse=True)
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$ECSDL_SECRETS_DIR as the entrypoint leaves it: a TLS key and its certificate."""
    key, certificate = self_signed("test", ["127.0.0.1"])
    (tmp_path / "jupyter-tls.key").write_text(key)
    (tmp_path / "jupyter-tls.crt").write_text(certificate)
    monkeypatch.setenv("ECSDL_SECRETS_DIR", str(tmp_path))
    return tmp_path


def load(monkeypatch: pytest.MonkeyPatch, password_hash: str | None) -> dict[str, dict[str, Any]]:
    """{class: {setting: value}} as the file sets them with this JUPYTER_PASSWORD_HASH (and
    the secrets folder of the fixture above, which has no password-hash file)."""
    if password_hash is None:
        monkeypatch.delenv("JUPYTER_PASSWORD_HASH", raising=False)
    else:
        monkeypatch.setenv("JUPYTER_PASSWORD_HASH", password_hash)
    config = Config()
    runpy.run_path(str(CONFIG), init_globals={"get_config": lambda: config})
    return {name: section.settings for name, section in config.sections.items()}


def test_forwarded_headers_are_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy is in front of the server: X-Forwarded-For/-Proto/-Host would be the client's
    own words (any address or scheme in the server's log and its redirects). The file says so
    explicitly, not through jupyter_server's default."""
    settings = load(monkeypatch, HASH)
    assert "trust_xheaders" in settings["ServerApp"], "trust_xheaders is not set explicitly"
    assert settings["ServerApp"]["trust_xheaders"] is False


def test_the_password_is_required_and_no_token_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, HASH)
    assert settings["PasswordIdentityProvider"]["hashed_password"] == HASH
    assert settings["PasswordIdentityProvider"]["password_required"] is True
    assert settings["IdentityProvider"]["token"] == ""


@pytest.mark.parametrize("password_hash", [None, "", "not-a-hash"])
def test_without_a_password_hash_the_server_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, password_hash: str | None
) -> None:
    with pytest.raises(SystemExit, match="refusing to start Jupyter without a password"):
        load(monkeypatch, password_hash)


def test_jupyter_serves_https_with_the_entrypoints_key_and_certificate(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    settings = load(monkeypatch, HASH)["ServerApp"]
    assert settings["certfile"] == str(secrets_dir / "jupyter-tls.crt")
    assert settings["keyfile"] == str(secrets_dir / "jupyter-tls.key")


@pytest.mark.parametrize("missing", ["jupyter-tls.key", "jupyter-tls.crt"])
def test_without_a_tls_key_and_certificate_the_server_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path, missing: str
) -> None:
    (secrets_dir / missing).unlink()
    with pytest.raises(SystemExit, match="refusing to serve Jupyter over plain HTTP"):
        load(monkeypatch, HASH)


def test_a_key_that_is_not_the_certificates_is_refused(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    other_key, _ = self_signed("other", ["127.0.0.1"])
    (secrets_dir / "jupyter-tls.key").write_text(other_key)
    with pytest.raises(SystemExit, match="not a PEM private key and its certificate"):
        load(monkeypatch, HASH)
