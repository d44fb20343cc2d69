"""Talk to a running Jupyter server (notebook 7 / jupyter_server 2) the way a user's client does.

Password login through the form (the `_xsrf` cookie from GET /login, then POST /login), the REST
API with the session's cookies and the `X-XSRFToken` header (jupyter_server refuses a cookie-
authenticated POST or DELETE without it), and a notebook run over a kernel's websocket
(/api/kernels/<id>/channels, Jupyter messaging protocol v5, JSON text frames): what JupyterLab
does when a user opens a notebook and runs every cell.

Used by tests/integration/test_jupyter.py; nothing here depends on pytest.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import websocket

LOGIN_FORM = "login"
PROTOCOL_VERSION = "5.3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class JupyterError(Exception):
    """Jupyter did not answer, or answered something a client cannot go on with."""


class LoginRefused(JupyterError):
    """The login form refused the password."""


class CellError(JupyterError):
    """A cell (or the preamble) raised in the kernel; the message carries its traceback."""

    def __init__(
        self, path: str, cell: CellResult, ename: str, evalue: str, traceback: list[str]
    ) -> None:
        self.path = path
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
        self.traceback = "\n".join(_ANSI.sub("", line) for line in traceback)
        where = "the preamble" if cell.index < 0 else f"cell {cell.index}"
        super().__init__(
            f"{path}: {where} raised {ename}: {evalue}\n"
            f"--- source ---\n{cell.source}\n--- traceback ---\n{self.traceback}"
        )


@dataclass
class CellResult:
    """One executed code cell: its index among the notebook's cells (-1: the preamble), its
    source, and its outputs in nbformat's shape (`output_type` stream / execute_result /
    display_data / error)."""

    index: int
    source: str
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What a user reads under the cell: streams, text/plain results, error tracebacks."""
        parts = []
        for output in self.outputs:
            kind = output["output_type"]
            if kind == "stream":
                parts.append(output["text"])
            elif kind in ("execute_result", "display_data"):
                parts.append(output.get("data", {}).get("text/plain", "") + "\n")
            elif kind == "error":
                parts.append("\n".join(_ANSI.sub("", t) for t in output["traceback"]) + "\n")
        return "".join(parts)


@dataclass
class NotebookRun:
    """The result of run_notebook: the preamble, every code cell in order, the kernel used (it
    is deleted by then) and the wall-clock time from kernel start to the last reply."""

    path: str
    kernel_id: str
    preamble: CellResult | None
    cells: list[CellResult]
    seconds: float

    @property
    def text(self) -> str:
        """The text output of all code cells (not the preamble), in order."""
        return "".join(cell.text for cell in self.cells)


def api_url(base_url: str, path: str) -> str:
    """`path` (e.g. "api/contents/work/a b.ipynb") under the server's base URL, URL-quoted."""
    return base_url.rstrip("/") + "/" + quote(path.lstrip("/"), safe="/")


def wait_until_answers(
    base_url: str, timeout: float = 120.0, interval: float = 1.0, verify: bool | str = True
) -> str:
    """Wait until Jupyter answers GET /api (no login needed) with its version; return it.

    `verify`: the certificate to trust (the deployment's, a path), as requests takes it.

    A load balancer's 5xx while the task starts counts as not answering yet. Raises
    JupyterError with the last thing seen when `timeout` seconds pass.
    """
    deadline = time.monotonic() + timeout
    url = api_url(base_url, "api")
    last = "no attempt"
    while True:
        try:
            response = requests.get(url, timeout=min(10.0, max(1.0, timeout)), verify=verify)
            if response.status_code == 200 and "version" in _json_or_empty(response):
                return str(response.json()["version"])
            last = f"HTTP {response.status_code}: {response.text[:200]!r}"
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + interval > deadline:
            raise JupyterError(f"Jupyter did not answer on {url} within {timeout:.0f} s ({last})")
        time.sleep(interval)


def login(
    base_url: str,
    password: str,
    session: requests.Session | None = None,
    timeout: float = 30.0,
    verify: bool | str | None = None,
) -> requests.Session:
    """Log in through the password form; return the session, cookies and X-XSRFToken set.

    `verify`: the certificate the session trusts (the deployment's, a path); None keeps the
    given session's (a new one: the system's CAs).

    GET /login gives the `_xsrf` cookie, POST /login sends it back with the password. Raises
    LoginRefused when the server refuses the password (HTTP 401), JupyterError on anything else
    unexpected. Pass `session` to keep hold of it when the login fails (it stays logged out).
    """
    session = session if session is not None else requests.Session()
    if verify is not None:
        trust(session, verify)
    form = session.get(api_url(base_url, LOGIN_FORM), timeout=timeout)
    if form.status_code != 200:
        raise JupyterError(f"GET {form.url} answered HTTP {form.status_code}, not the login form")
    xsrf = xsrf_token(session, base_url)
    if xsrf is None:
        raise JupyterError(f"GET {form.url} set no _xsrf cookie: not a jupyter_server login form")
    answer = session.post(
        api_url(base_url, LOGIN_FORM),
        data={"password": password, "_xsrf": xsrf},
        allow_redirects=False,
        timeout=timeout,
    )
    if answer.status_code == 401:
        raise LoginRefused(f"Jupyter at {base_url} refused the password (HTTP 401 from /login)")
    if answer.status_code not in (200, 302, 303):
        raise JupyterError(
            f"POST {answer.url} answered HTTP {answer.status_code}: {answer.text[:300]!r}"
        )
    # Every later request carries the token, as JupyterLab does; the cookie stays the same.
    session.headers["X-XSRFToken"] = xsrf_token(session, base_url) or xsrf
    if not is_logged_in(session, base_url, timeout=timeout):
        raise LoginRefused(
            f"Jupyter at {base_url} accepted the login form (HTTP {answer.status_code}) "
            "but the API still refuses the session"
        )
    return session


def trust(session: requests.Session, certificate: bool | str) -> requests.Session:
    """Make `session` verify servers against `certificate` (a PEM file) and nothing else.

    requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE of the environment override a session's
    `verify` (psf/requests#3829), so the session stops reading the environment (no proxy is
    involved: the deployment's address is reached directly)."""
    session.verify = certificate
    session.trust_env = False
    return session


def xsrf_token(session: requests.Session, base_url: str) -> str | None:
    """The `_xsrf` cookie the server set for `base_url` in this session, if any."""
    host = urlsplit(base_url).hostname or ""
    for cookie in session.cookies:
        if cookie.name == "_xsrf" and cookie.value and _domain_matches(host, cookie.domain):
            return cookie.value
    return None


def api_status(
    session: requests.Session, base_url: str, path: str = "api/contents", timeout: float = 30.0
) -> int:
    """The HTTP status of GET `path` for this session, redirects not followed (302 = to login)."""
    response = session.get(api_url(base_url, path), allow_redirects=False, timeout=timeout)
    return response.status_code


def is_logged_in(session: requests.Session, base_url: str, timeout: float = 30.0) -> bool:
    """Whether the API serves this session: GET /api/contents answers 200 (True) or refuses
    with 401/403 or a redirect to /login (False). Anything else raises JupyterError."""
    response = session.get(
        api_url(base_url, "api/contents"), allow_redirects=False, timeout=timeout
    )
    if response.status_code == 200:
        return True
    if response.status_code in (401, 403):
        return False
    if response.status_code in (302, 303) and "/login" in response.headers.get("Location", ""):
        return False
    raise JupyterError(
        f"GET {response.url} answered HTTP {response.status_code}: {response.text[:300]!r}"
    )


def list_contents(
    session: requests.Session, base_url: str, path: str = "", timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The entries (name, path, type, ...) of the server directory `path` ("" = the root)."""
    model = _get_json(session, api_url(base_url, f"api/contents/{path}"), timeout)
    if model.get("type") != "directory":
        raise JupyterError(f"{path!r} on the server is a {model.get('type')}, not a directory")
    return list(model["content"])


def get_notebook(
    session: requests.Session, base_url: str, path: str, timeout: float = 30.0
) -> dict[str, Any]:
    """The notebook at server path `path` (nbformat 4 JSON), through /api/contents."""
    model = _get_json(
        session,
        api_url(base_url, f"api/contents/{path}"),
        timeout,
        params={"type": "notebook", "content": "1"},
    )
    notebook = model.get("content")
    if not isinstance(notebook, dict) or "cells" not in notebook:
        raise JupyterError(f"{path!r} on the server is not a notebook")
    return notebook


def put_file(
    session: requests.Session, base_url: str, path: str, data: bytes, timeout: float = 30.0
) -> None:
    """Upload `data` to the server path `path` through /api/contents, as JupyterLab's upload."""
    import base64

    response = session.put(
        api_url(base_url, f"api/contents/{path}"),
        json={"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
        timeout=timeout,
    )
    if response.status_code not in (200, 201):
        raise JupyterError(f"PUT {path}: HTTP {response.status_code}: {response.text[:300]!r}")


def get_file(session: requests.Session, base_url: str, path: str, timeout: float = 30.0) -> bytes:
    """The bytes of the file at server path `path`, through /api/contents (base64)."""
    import base64

    model = _get_json(
        session,
        api_url(base_url, f"api/contents/{path}"),
        timeout,
        params={"type": "file", "format": "base64", "content": "1"},
    )
    if model.get("format") != "base64":
        raise JupyterError(f"{path!r} on the server came as {model.get('format')}, not base64")
    return base64.b64decode(model["content"])


def put_notebook(
    session: requests.Session, base_url: str, path: str, cells: list[str], timeout: float = 30.0
) -> None:
    """Save a notebook of these code cells at the server path `path`."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None,
             "outputs": [], "source": source}
            for i, source in enumerate(cells)
        ],
    }  # fmt: skip
    response = session.put(
        api_url(base_url, f"api/contents/{path}"),
        json={"type": "notebook", "content": notebook},
        timeout=timeout,
    )
    if response.status_code not in (200, 201):
        raise JupyterError(f"PUT {path}: HTTP {response.status_code}: {response.text[:300]!r}")


def delete_path(session: requests.Session, base_url: str, path: str, timeout: float = 30.0) -> None:
    """Delete the server path `path` (a file or a notebook); missing is fine."""
    response = session.delete(api_url(base_url, f"api/contents/{path}"), timeout=timeout)
    if response.status_code not in (204, 404):
        raise JupyterError(f"DELETE {path}: HTTP {response.status_code}: {response.text[:300]!r}")


def list_kernels(
    session: requests.Session, base_url: str, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The server's running kernels (id, name, execution_state, ...)."""
    return list(_get_json(session, api_url(base_url, "api/kernels"), timeout))


def run_notebook(
    session: requests.Session,
    base_url: str,
    path: str,
    preamble: str | None = None,
    timeout: float = 600.0,
    kernel_name: str = "python3",
) -> NotebookRun:
    """Run the notebook at server path `path` in a fresh kernel, as "Run All" would.

    The notebook comes from /api/contents, the kernel from POST /api/kernels; over the kernel's
    websocket the `preamble` code (if any) runs first, then every code cell in order, each as
    an execute_request. Stops at the first error and raises CellError with the traceback.
    The kernel is deleted at the end whatever happens. `timeout` bounds the whole run; when it
    passes, JupyterError says which cell was running.
    """
    deadline = time.monotonic() + timeout
    notebook = get_notebook(session, base_url, path)
    started = time.monotonic()
    response = session.post(
        api_url(base_url, "api/kernels"), json={"name": kernel_name}, timeout=30
    )
    if response.status_code != 201:
        raise JupyterError(
            f"starting a {kernel_name} kernel: HTTP {response.status_code}: {response.text[:300]!r}"
        )
    kernel_id = response.json()["id"]
    failed = True
    try:
        with _KernelChannel(session, base_url, kernel_id, deadline) as channel:
            channel.wait_ready()
            ran_preamble = None
            if preamble is not None:
                ran_preamble = channel.execute(path, -1, preamble)
            cells = []
            for index, cell in enumerate(notebook["cells"]):
                if cell.get("cell_type") != "code":
                    continue
                source = cell["source"]
                source = "".join(source) if isinstance(source, list) else source
                cells.append(channel.execute(path, index, source))
        failed = False
    finally:
        _delete_kernel(session, base_url, kernel_id, raise_errors=not failed)
    return NotebookRun(path, kernel_id, ran_preamble, cells, time.monotonic() - started)


class _KernelChannel:
    """The websocket to one kernel: send execute_request, gather replies for it."""

    def __init__(
        self, session: requests.Session, base_url: str, kernel_id: str, deadline: float
    ) -> None:
        self.deadline = deadline
        self.session_id = uuid.uuid4().hex
        http_url = api_url(base_url, f"api/kernels/{kernel_id}/channels")
        self.url = re.sub(r"^http", "ws", http_url) + f"?session_id={self.session_id}"
        # The cookies requests would send to this URL (domain and path rules applied): the
        # server authenticates the websocket by them alone (jupyter_server 2.21 checks no XSRF
        # token on the websocket's GET; the header goes along as on every other request). It
        # refuses an Origin other than its Host (403), so send the server's own origin, as a
        # browser on the Jupyter page would.
        prepared = session.prepare_request(requests.Request("GET", http_url))
        self.headers = [f"Cookie: {prepared.headers.get('Cookie', '')}"]
        if "X-XSRFToken" in session.headers:
            self.headers.append(f"X-XSRFToken: {session.headers['X-XSRFToken']}")
        # websocket-client leaves a default port out of Host; so must the Origin.
        parts = urlsplit(base_url)
        netloc = parts.netloc.removesuffix({"http": ":80", "https": ":443"}.get(parts.scheme, ""))
        self.origin = f"{parts.scheme}://{netloc}"
        self.sslopt: dict[str, Any] = {}
        if session.verify is False:
            self.sslopt = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        elif isinstance(session.verify, str):
            self.sslopt = {"ca_certs": session.verify}
        self.ws: websocket.WebSocket | None = None

    def __enter__(self) -> _KernelChannel:
        try:
            self.ws = websocket.create_connection(
                self.url,
                header=self.headers,
                origin=self.origin,
                sslopt=self.sslopt,
                timeout=self._remaining("connecting to the kernel's websocket"),
            )
        except websocket.WebSocketException as exc:
            raise JupyterError(f"websocket {self.url}: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.ws is not None:
            self.ws.close()

    def _remaining(self, doing: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise JupyterError(f"timed out {doing}")
        return left

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "username": "ecs-dl-tests",
                "session": self.session_id,
                "date": datetime.now(UTC).isoformat(),
                "version": PROTOCOL_VERSION,
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
        assert self.ws is not None
        self.ws.send(json.dumps(message))
        return msg_id

    def _receive(self, doing: str) -> dict[str, Any]:
        assert self.ws is not None
        self.ws.settimeout(self._remaining(doing))
        try:
            frame = self.ws.recv()
        except websocket.WebSocketTimeoutException as exc:
            raise JupyterError(f"timed out {doing}") from exc
        except websocket.WebSocketConnectionClosedException as exc:
            raise JupyterError(f"the kernel's websocket closed while {doing}") from exc
        if isinstance(frame, bytes):  # binary frames carry buffers; not used by these cells
            return {}
        return json.loads(frame)

    def wait_ready(self) -> None:
        """kernel_info_request until it is answered: the kernel has started and listens."""
        while True:
            msg_id = self._send("kernel_info_request", {})
            retry_at = time.monotonic() + 5
            while time.monotonic() < retry_at:
                message = self._receive("waiting for the kernel to start")
                if (
                    message.get("parent_header", {}).get("msg_id") == msg_id
                    and message.get("msg_type") == "kernel_info_reply"
                ):
                    return

    def execute(self, path: str, index: int, source: str) -> CellResult:
        """Run `source`; its outputs once the reply and the kernel's idle status are in."""
        cell = CellResult(index, source)
        doing = f"running {'the preamble' if index < 0 else f'cell {index}'} of {path}"
        msg_id = self._send(
            "execute_request",
            {
                "code": source,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        reply: dict[str, Any] | None = None
        idle = False
        while reply is None or not idle:
            message = self._receive(doing)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message.get("msg_type")
            content = message.get("content", {})
            if kind == "execute_reply":
                reply = content
            elif kind == "status":
                idle = content.get("execution_state") == "idle"
            elif kind == "stream":
                cell.outputs.append(
                    {"output_type": "stream", "name": content["name"], "text": content["text"]}
                )
            elif kind in ("execute_result", "display_data"):
                cell.outputs.append({"output_type": kind, "data": content.get("data", {})})
            elif kind == "error":
                cell.outputs.append({"output_type": "error", **content})
            elif kind == "clear_output":
                cell.outputs.clear()
        if reply.get("status") == "error":
            raise CellError(
                path,
                cell,
                reply.get("ename", "?"),
                reply.get("evalue", ""),
                reply.get("traceback") or _error_traceback(cell),
            )
        if reply.get("status") != "ok":
            raise JupyterError(f"{doing}: execute_reply status {reply.get('status')!r}")
        return cell


def _error_traceback(cell: CellResult) -> list[str]:
    for output in cell.outputs:
        if output["output_type"] == "error":
            return list(output.get("traceback", []))
    return []


def _delete_kernel(
    session: requests.Session, base_url: str, kernel_id: str, raise_errors: bool
) -> None:
    """DELETE the kernel; a failure raises only when no other error is on its way out."""
    try:
        response = session.delete(api_url(base_url, f"api/kernels/{kernel_id}"), timeout=30)
        if response.status_code not in (204, 404) and raise_errors:
            raise JupyterError(
                f"deleting kernel {kernel_id}: HTTP {response.status_code}: {response.text[:300]!r}"
            )
    except requests.RequestException as exc:
        if raise_errors:
            raise JupyterError(f"deleting kernel {kernel_id}: {exc}") from exc


def _get_json(
    session: requests.Session, url: str, timeout: float, params: dict[str, str] | None = None
) -> Any:
    response = session.get(url, params=params, allow_redirects=False, timeout=timeout)
    if response.status_code != 200:
        raise JupyterError(
            f"GET {url} answered HTTP {response.status_code}: {response.text[:300]!r}"
        )
    return response.json()


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _domain_matches(host: str, cookie_domain: str) -> bool:
    domain = cookie_domain.lstrip(".")
    # http.cookiejar stores host-only cookies of an IP or single-label host as "host.local".
    return host == domain or host.endswith("." + domain) or domain == f"{host}.local" or not domain
