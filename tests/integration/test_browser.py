"""Jupyter in a real browser: headless Chromium logs in with the password and opens the notebook.

`jupyter_access` (url ending in /, password, notebook server path) is the running Jupyter of
the integration deployment. The screenshots are kept in tests/artifacts/browser/ (git-ignored).

Chromium and chromedriver are Debian's `chromium` and `chromium-driver`, which `make test`
installs (scripts/install-system-deps.sh). The tests skip only where that cannot happen (not
root on Debian) and never in CI, where a missing browser fails them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import (
    NOTEBOOK_TITLE,
    BrowserError,
    find_chromedriver,
    find_chromium,
    open_notebook_and_screenshot,
    run_all_and_screenshot,
    try_login,
)
from tests.integration.conftest import ARTIFACTS

BROWSER_TIMEOUT = float(os.environ.get("ECS_DL_BROWSER_TIMEOUT", "60"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# Session-scoped, and first in the tests' arguments: it is decided before a session-scoped
# jupyter_access deploys anything.
@pytest.fixture(scope="session")
def browser_available() -> None:
    """Chromium and chromedriver are installed; a failure (CI, root on Debian) or a skip if not."""
    missing = [
        package
        for package, found in (
            ("chromium", find_chromium()),
            ("chromium-driver", find_chromedriver()),
        )
        if not found
    ]
    if not missing:
        return
    why = f"Debian packages missing: {' '.join(missing)} (scripts/install-system-deps.sh --tests)"
    installable = os.geteuid() == 0 and Path("/etc/debian_version").is_file()
    if os.environ.get("CI") or installable:
        pytest.fail(
            f"{why}: in CI and as root on Debian the browser test must run "
            "(`make test` installs them)",
            pytrace=False,
        )
    pytest.skip(f"{why}: not root on Debian, so `make test` cannot install them")


@pytest.fixture(scope="module")
def browser_artifacts() -> Path:
    path = ARTIFACTS / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_password_opens_the_notebook(
    browser_available: None, jupyter_access: Any, browser_artifacts: Path
) -> None:
    shot = browser_artifacts / "notebook.png"
    shot.unlink(missing_ok=True)

    view = open_notebook_and_screenshot(
        jupyter_access.url,
        jupyter_access.password,
        jupyter_access.notebook,
        shot,
        timeout=BROWSER_TIMEOUT,
        certificate=jupyter_access.certificate,
    )

    print(f"notebook view in {view.seconds:.1f} s: {view}")
    assert view.url.startswith(jupyter_access.url), view
    assert "/lab/tree/" in view.url, view
    assert Path(jupyter_access.notebook).stem in view.page_title, view
    assert view.code_cells >= 1, view
    assert view.cells > view.code_cells, f"no Markdown cell rendered: {view}"
    assert any(NOTEBOOK_TITLE in heading for heading in view.headings), view
    with shot.open("rb") as png:
        assert png.read(8) == PNG_SIGNATURE, f"{shot} is not a PNG"
    assert shot.stat().st_size > 20_000, f"{shot} is suspiciously small (a blank page?)"


def test_wrong_password_does_not_open_the_notebook(
    browser_available: None, jupyter_access: Any, browser_artifacts: Path
) -> None:
    shot = browser_artifacts / "wrong-password.png"

    outcome = try_login(
        jupyter_access.url,
        jupyter_access.password + "-wrong",
        jupyter_access.notebook,
        shot,
        timeout=BROWSER_TIMEOUT,
        certificate=jupyter_access.certificate,
    )

    assert not outcome.logged_in, outcome
    assert "Invalid credentials" in outcome.message, outcome
    assert "/login" in outcome.url, outcome
    assert outcome.login_form, outcome
    assert not outcome.notebook_view, outcome


def test_a_browser_that_does_not_trust_the_certificate_stops_before_the_password(
    browser_available: None, jupyter_access: Any, browser_artifacts: Path
) -> None:
    """Without the deployment's certificate trusted, Chromium shows its certificate warning
    and never reaches the password form: the password is never typed into an untrusted page."""
    with pytest.raises(BrowserError, match="Privacy error"):
        try_login(
            jupyter_access.url,
            jupyter_access.password,
            jupyter_access.notebook,
            browser_artifacts / "untrusted.png",
            timeout=BROWSER_TIMEOUT,
        )


def test_run_all_classifies_the_sample_cat_with_nothing_typed(
    browser_available: None, jupyter_access: Any, browser_artifacts: Path
) -> None:
    """The URL opens JupyterLab; classify.ipynb, Run > Run All Cells, nothing typed: every
    cell runs, without an error, and it says CAT for the sample picture site.yml put in the
    input bucket, with the picture drawn."""
    shot = browser_artifacts / "run-all.png"
    shot.unlink(missing_ok=True)

    run = run_all_and_screenshot(
        jupyter_access.url,
        jupyter_access.password,
        jupyter_access.notebook,
        shot,
        timeout=max(BROWSER_TIMEOUT, 180),
        certificate=jupyter_access.certificate,
    )

    print(f"Run All in {run.seconds:.1f} s: {run.prompts}")
    assert "/lab" in run.landing_url, run.landing_url
    assert run.prompts and all(p not in ("[ ]:", "[*]:") for p in run.prompts), run.prompts
    text = "\n".join(t for _, t in run.outputs)
    errors = [t for mime, t in run.outputs if "error" in mime or "Traceback" in t]
    assert not errors, errors
    assert "samples/chelsea.jpg" in text, text
    assert "CAT (cat probability" in text, text
    assert run.images == 1, f"{run.images} pictures drawn"
    assert shot.stat().st_size > 20_000, f"{shot} is suspiciously small (a blank page?)"
