"""A real browser against Jupyter: headless Chromium, driven by Selenium through chromedriver.

Both come from Debian (`chromium`, `chromium-driver`; scripts/install-system-deps.sh installs
them). The driver's path is always given to Selenium, so Selenium Manager never runs and nothing
is downloaded. Every browser gets a temporary profile and is always quit.

    python tests/integration/browser.py https://127.0.0.1:8888/ \
        --certificate .secrets/ecs-dl-jupyter.crt --screenshot shot.png
    (the password is read from $JUPYTER_PASSWORD, or asked for)
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMEDRIVER_FALLBACK = "/usr/bin/chromedriver"
WINDOW_SIZE = (1366, 1000)
NOTEBOOK_TITLE = "Lab 4: prediction"

# Jupyter Server's login page (jupyter_server/templates/login.html).
PASSWORD_FIELD = (By.ID, "password_input")
LOGIN_BUTTON = (By.ID, "login_submit")
LOGIN_ERROR = (By.CSS_SELECTOR, ".message.error")

# What the notebook view (JupyterLab) shows, read in one go so that the page cannot change
# between two lookups.
_NOTEBOOK_STATE_JS = """
const text = (el) => (el.textContent || '').replace(/\\u00b6/g, ' ').replace(/\\s+/g, ' ').trim();
const dialogs = [...document.querySelectorAll('.jp-Dialog-content')].map(
  (d) => (d.innerText || d.textContent || '').replace(/\\s+/g, ' ').trim());
const panel = document.querySelector('.jp-NotebookPanel');
if (!panel) { return {panel: false, dialogs}; }
const code = [...panel.querySelectorAll('.jp-CodeCell')];
return {
  panel: true,
  dialogs,
  cells: panel.querySelectorAll('.jp-Cell').length,
  code_cells: code.length,
  code_cells_with_source: code.filter(
    (c) => text(c.querySelector('.cm-content') || c) !== '').length,
  headings: [...panel.querySelectorAll(
    '.jp-RenderedMarkdown h1, .jp-RenderedMarkdown h2')].map(text),
};
"""


# After "Run All": each code cell's prompt ("[ ]:" never run, "[*]:" running, "[3]:" done),
# what the outputs say (their MIME type and text) and how many pictures they drew.
_RUN_STATE_JS = """
const panel = document.querySelector('.jp-NotebookPanel');
if (!panel) { return {panel: false}; }
const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(
  (p) => (p.textContent || '').trim());
const outputs = [...panel.querySelectorAll('.jp-OutputArea-output')].map(
  (o) => ({mime: o.getAttribute('data-mime-type') || '',
           text: (o.innerText || o.textContent || '')}));
return {panel: true, prompts, outputs,
        images: panel.querySelectorAll('.jp-OutputArea-output img').length};
"""
_DONE_PROMPT = re.compile(r"^\[\d+\]:$")


class BrowserError(RuntimeError):
    """The browser could not be started, or did not see what it waited for."""


@dataclass(frozen=True)
class NotebookView:
    """What the browser saw once the notebook view was rendered."""

    url: str
    page_title: str
    cells: int
    code_cells: int
    headings: tuple[str, ...]
    screenshot: Path
    seconds: float  # from starting the browser to the screenshot


@dataclass(frozen=True)
class LoginOutcome:
    """Where the browser was after submitting the login form, then asking for the notebook.

    The screenshot shows the page that answered the form.
    """

    logged_in: bool  # the server let the browser off the login page
    message: str  # the login page's error message ("" when none)
    url: str  # where asking for the notebook again ended
    login_form: bool  # ... and whether that page has the password field
    notebook_view: bool  # ... and whether it shows a notebook panel
    screenshot: Path


def find_chromium() -> str | None:
    """The Chromium executable on PATH (Debian: `chromium`), or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_chromedriver() -> str | None:
    """chromedriver on PATH, else Debian's /usr/bin/chromedriver, or None."""
    path = shutil.which("chromedriver")
    if path:
        return path
    return CHROMEDRIVER_FALLBACK if os.access(CHROMEDRIVER_FALLBACK, os.X_OK) else None


def spki_sha256(certificate: str | Path) -> str:
    """base64 SHA-256 of the public key (SubjectPublicKeyInfo) of the PEM certificate file:
    what Chromium's --ignore-certificate-errors-spki-list takes."""
    pem = Path(certificate).read_bytes()
    spki = (
        x509.load_pem_x509_certificate(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextmanager
def headless_chromium(
    timeout: float = 60.0, certificate: str | Path | None = None
) -> Iterator[WebDriver]:
    """A headless Chromium with a temporary profile; quit and its profile removed on exit.

    The flags are those Chromium needs as root in a container: no sandbox (it refuses to run
    as root with one), no /dev/shm (often 64 MiB in a container). `certificate`: a self-signed
    server certificate (PEM file) to accept, pinned by its public key (as a user who trusted
    it in the browser); any other certificate error still stops the page.
    """
    chromium, chromedriver = find_chromium(), find_chromedriver()
    if not chromium or not chromedriver:
        raise BrowserError(
            f"Chromium or chromedriver not found (chromium: {chromium}, chromedriver: "
            f"{chromedriver}): install Debian's chromium and chromium-driver "
            "(scripts/install-system-deps.sh does as root)"
        )
    profile = tempfile.mkdtemp(prefix="ecs-dl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(flag)
    if certificate is not None:
        options.add_argument(f"--ignore-certificate-errors-spki-list={spki_sha256(certificate)}")
    driver: WebDriver | None = None
    try:
        try:
            driver = webdriver.Chrome(
                service=Service(executable_path=chromedriver), options=options
            )
        except WebDriverException as exc:
            raise BrowserError(
                f"headless Chromium did not start ({chromium} via {chromedriver}): {exc.msg}"
            ) from exc
        driver.set_page_load_timeout(timeout)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def notebook_url(base_url: str, notebook_path: str) -> str:
    """The notebook's page in JupyterLab: BASE/lab/tree/PATH."""
    return urljoin(base_url, "lab/tree/" + quote(notebook_path.lstrip("/")))


def _on_login_page(driver: WebDriver) -> bool:
    return urlparse(driver.current_url).path.rstrip("/").endswith("/login")


def _submit_password(driver: WebDriver, password: str, timeout: float) -> tuple[bool, str]:
    """Type the password into the login form and submit it, as a person would.

    Returns (left the login page, the page's error message). The browser must be on the login
    page already.
    """
    field = WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(*PASSWORD_FIELD),
        message=f"no password field ({PASSWORD_FIELD[1]}) on the login page",
    )
    before = driver.find_element(By.TAG_NAME, "html")
    field.clear()
    field.send_keys(password)
    driver.find_element(*LOGIN_BUTTON).click()

    def answered(d: WebDriver) -> bool:
        try:
            before.tag_name  # noqa: B018 -- raises once the form's page is replaced
        except WebDriverException:
            return True
        return not _on_login_page(d)

    WebDriverWait(driver, timeout).until(answered, message="the login form got no answer")
    if not _on_login_page(driver):
        return True, ""
    errors = driver.find_elements(*LOGIN_ERROR)
    return False, " ".join(e.text.strip() for e in errors if e.text.strip())


def _log_in(
    driver: WebDriver, url: str, password: str, screenshot_path: Path, timeout: float
) -> None:
    """Ask for `url`, which must send the browser to the login page, and log in there."""
    driver.get(url)
    if not _on_login_page(driver):
        raise _failure(driver, screenshot_path, f"{url} did not ask for a password")
    logged_in, message = _submit_password(driver, password, timeout)
    if not logged_in:
        raise _failure(driver, screenshot_path, f"the login was refused: {message!r}")


def _notebook_state(driver: WebDriver) -> dict[str, Any]:
    try:
        return driver.execute_script(_NOTEBOOK_STATE_JS) or {"panel": False}
    except WebDriverException:
        return {"panel": False}  # the page is being replaced


def _save_failure(driver: WebDriver, screenshot_path: Path) -> list[Path]:
    """Save a screenshot and the page source of what the browser shows, next to the screenshot."""
    saved = []
    png = screenshot_path.with_name(f"{screenshot_path.stem}-failure.png")
    html = screenshot_path.with_name(f"{screenshot_path.stem}-failure.html")
    try:
        if driver.save_screenshot(str(png)):
            saved.append(png)
        html.write_text(driver.page_source)
        saved.append(html)
    except (WebDriverException, OSError):
        pass
    return saved


def _failure(driver: WebDriver, screenshot_path: Path, what: str) -> BrowserError:
    try:
        where = f"{driver.current_url} (title {driver.title!r})"
    except WebDriverException:
        where = "an unknown page"
    saved = _save_failure(driver, screenshot_path)
    kept = ", ".join(map(str, saved)) if saved else "nothing could be saved"
    return BrowserError(f"{what}; the browser was on {where}; kept: {kept}")


def open_notebook_and_screenshot(
    base_url: str,
    password: str,
    notebook_path: str,
    screenshot_path: Path,
    timeout: float = 60.0,
    title_text: str = NOTEBOOK_TITLE,
    certificate: str | Path | None = None,
) -> NotebookView:
    """Log in with `password`, open `notebook_path` (a server path) and screenshot its view.

    The browser asks for the notebook, is sent to the login page, types the password and
    submits it, and must land on the notebook view: a notebook panel with its code cells and
    `title_text` in a rendered heading, within `timeout` seconds. Raises BrowserError (with a
    screenshot and the page source saved as SCREENSHOT-failure.png/.html) otherwise.
    """
    screenshot_path = Path(screenshot_path)
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    url = notebook_url(base_url, notebook_path)
    with headless_chromium(timeout, certificate) as driver:
        try:
            _log_in(driver, url, password, screenshot_path, timeout)
            state: dict[str, Any] = {}

            def rendered(d: WebDriver) -> bool:
                state.clear()
                state.update(_notebook_state(d))
                return bool(
                    state.get("panel")
                    and state.get("code_cells_with_source")
                    and any(title_text in h for h in state.get("headings", []))
                )

            def rendered_or_error(d: WebDriver) -> bool:
                # An error dialog ("File Load Error ...: 404") ends the wait at once.
                return rendered(d) or any("Error" in t for t in state.get("dialogs", []))

            try:
                WebDriverWait(driver, timeout, poll_frequency=0.25).until(rendered_or_error)
            except TimeoutException:
                pass
            if not rendered(driver):
                errors = [t for t in state.get("dialogs", []) if "Error" in t]
                raise _failure(
                    driver,
                    screenshot_path,
                    f"no notebook view of {notebook_path} with code cells and the heading "
                    f"{title_text!r}: "
                    + (f"Jupyter showed {errors}" if errors else f"not within {timeout:g} s")
                    + f" (last seen: {state})",
                )
            if not driver.save_screenshot(str(screenshot_path)):
                raise _failure(driver, screenshot_path, f"could not write {screenshot_path}")
            return NotebookView(
                url=driver.current_url,
                page_title=driver.title,
                cells=int(state["cells"]),
                code_cells=int(state["code_cells"]),
                headings=tuple(state["headings"]),
                screenshot=screenshot_path,
                seconds=time.monotonic() - start,
            )
        except TimeoutException as exc:
            raise _failure(driver, screenshot_path, f"timed out: {exc.msg}") from None
        except WebDriverException as exc:
            raise _failure(driver, screenshot_path, f"the browser failed: {exc.msg}") from None


@dataclass(frozen=True)
class NotebookRunView:
    """What the browser saw after JupyterLab's "Run All Cells" had run every code cell."""

    landing_url: str  # where the base URL led after the login
    prompts: tuple[str, ...]  # each code cell's prompt, "[1]:" ...
    outputs: tuple[tuple[str, str], ...]  # (MIME type, text) of every output
    images: int  # pictures among the outputs
    screenshot: Path
    seconds: float  # from the menu click until every cell had run


def _click_menu(driver: WebDriver, menu: str, item: str, timeout: float) -> None:
    """Open JupyterLab's main menu `menu` and click its entry `item`, by their labels."""
    WebDriverWait(driver, timeout).until(
        lambda d: any(
            e.text.strip() == menu
            for e in d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
        ),
        message=f"no {menu!r} menu in JupyterLab's menu bar",
    )
    next(
        e
        for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
        if e.text.strip() == menu
    ).click()
    entry = WebDriverWait(driver, timeout).until(
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, ".lm-Menu-item")
             if e.text.strip().startswith(item) and e.is_displayed()),
            None,
        ),
        message=f"no {item!r} in the {menu!r} menu",
    )  # fmt: skip
    entry.click()


def run_all_and_screenshot(
    base_url: str,
    password: str,
    notebook_path: str,
    screenshot_path: Path,
    timeout: float = 180.0,
    certificate: str | Path | None = None,
) -> NotebookRunView:
    """Log in, follow the base URL (JupyterLab), open `notebook_path`, choose Run > Run All
    Cells as a person would, wait until every code cell has run, and screenshot the result."""
    screenshot_path = Path(screenshot_path)
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    with headless_chromium(timeout, certificate) as driver:
        try:
            _log_in(driver, base_url, password, screenshot_path, timeout)
            WebDriverWait(driver, timeout).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-LabShell"),
                message="the base URL did not open JupyterLab",
            )
            landing = driver.current_url
            driver.get(notebook_url(base_url, notebook_path))
            state: dict[str, Any] = {}

            def read(d: WebDriver) -> dict[str, Any]:
                try:
                    state.clear()
                    state.update(d.execute_script(_RUN_STATE_JS) or {})
                except WebDriverException:
                    state.clear()
                return state

            WebDriverWait(driver, timeout, poll_frequency=0.25).until(
                lambda d: read(d).get("panel") and read(d).get("prompts"),
                message=f"JupyterLab showed no notebook {notebook_path}",
            )  # fmt: skip
            started = time.monotonic()
            _click_menu(driver, "Run", "Run All Cells", timeout)
            try:
                WebDriverWait(driver, timeout, poll_frequency=0.5).until(
                    lambda d: (
                        (prompts := read(d).get("prompts"))
                        and all(_DONE_PROMPT.match(p) for p in prompts)
                    )
                )
            except TimeoutException:
                raise _failure(
                    driver, screenshot_path,
                    f"Run All did not finish within {timeout:g} s (prompts {state.get('prompts')})",
                ) from None  # fmt: skip
            seconds = time.monotonic() - started
            time.sleep(1.0)  # the last outputs (a figure) render after the prompt
            read(driver)
            if not driver.save_screenshot(str(screenshot_path)):
                raise _failure(driver, screenshot_path, f"could not write {screenshot_path}")
            return NotebookRunView(
                landing_url=landing,
                prompts=tuple(state["prompts"]),
                outputs=tuple((o["mime"], o["text"]) for o in state["outputs"]),
                images=int(state["images"]),
                screenshot=screenshot_path,
                seconds=seconds,
            )
        except TimeoutException as exc:
            raise _failure(driver, screenshot_path, f"timed out: {exc.msg}") from None
        except WebDriverException as exc:
            raise _failure(driver, screenshot_path, f"the browser failed: {exc.msg}") from None


def try_login(
    base_url: str,
    password: str,
    notebook_path: str,
    screenshot_path: Path,
    timeout: float = 60.0,
    certificate: str | Path | None = None,
) -> LoginOutcome:
    """Submit `password` on the login page, then ask for the notebook; report what was seen.

    For a wrong password: `logged_in` is False, `message` the login page's error, and asking
    for the notebook ends on the login page again (`login_form`, not `notebook_view`).
    """
    screenshot_path = Path(screenshot_path)
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    url = notebook_url(base_url, notebook_path)
    with headless_chromium(timeout, certificate) as driver:
        try:
            driver.get(url)
            if not _on_login_page(driver):
                raise _failure(driver, screenshot_path, f"{url} did not ask for a password")
            logged_in, message = _submit_password(driver, password, timeout)
            driver.save_screenshot(str(screenshot_path))  # the answer to the form
            driver.get(url)
            # A session lets the notebook page load its panel; give it a moment to appear.
            deadline = time.monotonic() + min(timeout, 10.0)
            view = False
            while not view and time.monotonic() < deadline and not _on_login_page(driver):
                view = bool(_notebook_state(driver).get("panel"))
                time.sleep(0.25)
            form = bool(driver.find_elements(*PASSWORD_FIELD))
            return LoginOutcome(
                logged_in=logged_in,
                message=message,
                url=driver.current_url,
                login_form=form,
                notebook_view=view,
                screenshot=screenshot_path,
            )
        except TimeoutException as exc:
            raise _failure(driver, screenshot_path, f"timed out: {exc.msg}") from None
        except WebDriverException as exc:
            raise _failure(driver, screenshot_path, f"the browser failed: {exc.msg}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Log in to Jupyter in headless Chromium, open a notebook and screenshot it.",
        epilog="The password is read from $JUPYTER_PASSWORD, or asked for when it is not set.",
    )
    parser.add_argument("url", help="Jupyter's base URL, e.g. https://127.0.0.1:8888/")
    parser.add_argument(
        "--certificate",
        type=Path,
        help="the server's self-signed certificate (PEM) to accept (.secrets/<name>-jupyter.crt)",
    )
    parser.add_argument(
        "--notebook",
        default="classify.ipynb",
        help="the notebook's server path (default: %(default)s)",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=Path("notebook.png"),
        help="where to write the PNG (default: %(default)s)",
    )
    parser.add_argument(
        "--title",
        default=NOTEBOOK_TITLE,
        help="text a rendered heading of the notebook must contain (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for each page (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    base_url = args.url if args.url.endswith("/") else args.url + "/"
    password = os.environ.get("JUPYTER_PASSWORD") or getpass.getpass("Jupyter password: ")
    try:
        view = open_notebook_and_screenshot(
            base_url,
            password,
            args.notebook,
            args.screenshot,
            args.timeout,
            args.title,
            certificate=args.certificate,
        )
    except BrowserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{view.page_title!r}: {view.cells} cells ({view.code_cells} code), "
        f"{view.headings[0] if view.headings else 'no heading'!r}; "
        f"screenshot {view.screenshot} in {view.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
