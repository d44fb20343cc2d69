"""The deployed Jupyter, seen as a user's client sees it: it answers, the API refuses anyone
without the password, the password logs in, and the classify notebook, run cell by cell over a
kernel's websocket, finds Chelsea the cat.

`jupyter_access` (conftest.py) gives the server and what to run: `url` (base URL ending in /),
`password`, `notebook` (server path of the classify notebook), `cat_image` (an IMAGE value the
container can read: chelsea) and `not_cat_image` (the same for a photo without a cat, or None).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.conftest import DEPLOYMENT_NAME, Deployment, JupyterAccess
from tests.integration.jupyter_api import (
    CellError,
    LoginRefused,
    api_status,
    api_url,
    delete_path,
    get_notebook,
    is_logged_in,
    list_contents,
    list_kernels,
    login,
    put_file,
    put_notebook,
    run_notebook,
    wait_until_answers,
)
from tests.tls import fingerprint, plain_http_refused, served_certificate

ANSWER_TIMEOUT = float(os.environ.get("ECS_DL_JUPYTER_ANSWER_TIMEOUT", "300"))
NOTEBOOK_TIMEOUT = float(os.environ.get("ECS_DL_NOTEBOOK_TIMEOUT", "600"))
# ImageNet classes 281..285 as labels.txt names them: the classes the cat verdict sums.
CAT_LABELS = {
    "tabby, tabby cat",
    "tiger cat",
    "Persian cat",
    "Siamese cat, Siamese",
    "Egyptian cat",
}
VERDICT = re.compile(r"^(CAT|no cat) \(cat probability (\d+\.\d+)\)$", re.MULTILINE)
TOP_ENTRY = re.compile(r"^\d+\. (\d+\.\d+)  (.+)$", re.MULTILINE)


@pytest.fixture
def jupyter_session(jupyter_access: Any) -> requests.Session:
    """A client logged in with the right password (the server answering first)."""
    access = jupyter_access
    wait_until_answers(access.url, timeout=ANSWER_TIMEOUT, verify=access.certificate)
    return login(jupyter_access.url, jupyter_access.password, verify=jupyter_access.certificate)


def tiny_wheel(name: str, version: str = "0.1") -> tuple[str, bytes]:
    """A pure-Python wheel of one module `name` that says where it was imported from."""
    import base64
    import hashlib
    import io
    import zipfile

    files = {
        f"{name}/__init__.py": b"import os\nWHERE = os.path.dirname(__file__)\n",
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        ),
        f"{name}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: ecs-dl-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = (
        "".join(
            f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
            for path, data in files.items()
        )
        + f"{name}-{version}.dist-info/RECORD,,\n"
    )
    files[f"{name}-{version}.dist-info/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


def image_preamble(image: str) -> str:
    """Code that sets the notebook's IMAGE before its first cell reads it."""
    return f'import os; os.environ["IMAGE"] = {image!r}'


def test_jupyter_answers(jupyter_access: Any) -> None:
    version = wait_until_answers(
        jupyter_access.url, timeout=ANSWER_TIMEOUT, verify=jupyter_access.certificate
    )
    assert version.split(".")[0] == "2", f"jupyter_server {version}, expected 2.x"


def test_jupyter_serves_https_with_the_printed_certificate(jupyter_access: JupyterAccess) -> None:
    """The server presents the certificate the outputs name, with the fingerprint they print;
    it is an ECDSA P-256 certificate for the address of the URL; a client that trusts the
    certificate logs in (the other tests), one that trusts only the usual CAs is refused."""
    parts = urlsplit(jupyter_access.url)
    assert parts.scheme == "https", jupyter_access.url
    served = served_certificate(parts.hostname or "", parts.port or 443)
    pem = Path(jupyter_access.certificate).read_text()
    certificate = x509.load_pem_x509_certificate(pem.encode())
    assert served == certificate.public_bytes(Encoding.DER), "not the certificate of the outputs"
    assert fingerprint(served) == jupyter_access.certificate_sha256
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert str(parts.hostname) in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(api_url(jupyter_access.url, "api"), timeout=30)


def test_plain_http_on_jupyters_port_gets_no_answer(jupyter_access: JupyterAccess) -> None:
    parts = urlsplit(jupyter_access.url)
    answer = plain_http_refused(parts.hostname or "", parts.port or 443)
    assert answer == "", f"plain HTTP was answered: {answer}"


def test_the_tls_key_is_a_0600_file_here_and_an_ssm_securestring_only(
    deployment: Deployment, aws_client: Any, jupyter_access: JupyterAccess
) -> None:
    """The key is on this machine (0600, beside the certificate), in SSM as a SecureString that
    the task's `secrets` name, and not in the task definition itself."""
    key_file = Path(jupyter_access.certificate).with_name(f"{DEPLOYMENT_NAME}-jupyter-tls.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    parameter = aws_client("ssm").get_parameter(
        Name=f"/{DEPLOYMENT_NAME}/jupyter/tls-key", WithDecryption=True
    )["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert parameter["Value"] == key
    arn = deployment.outputs["task_definitions"]["jupyter"]
    definition = aws_client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets["JUPYTER_TLS_KEY"] == parameter["ARN"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["JUPYTER_TLS_CERT"] == Path(jupyter_access.certificate).read_text().strip()
    assert "PRIVATE KEY" not in str(definition)


@pytest.mark.parametrize(
    "path", ["api/contents", "api/kernels", "api/sessions", "api/status", "api/kernelspecs"]
)
def test_the_api_refuses_a_client_without_login(jupyter_access: Any, path: str) -> None:
    assert api_status(jupyter_access.client(), jupyter_access.url, path) == 403


def test_pages_send_a_client_without_login_to_the_login_form(jupyter_access: Any) -> None:
    response = jupyter_access.client().get(
        api_url(jupyter_access.url, "tree"), allow_redirects=False, timeout=30
    )
    assert response.status_code == 302
    assert response.headers["Location"].split("?")[0].endswith("/login")
    assert not is_logged_in(jupyter_access.client(), jupyter_access.url)


def test_no_kernel_starts_without_login(jupyter_access: Any) -> None:
    # The client makes up its own _xsrf cookie and header (tornado only compares the two), so
    # the XSRF check passes and only the missing login can refuse it: a server without a
    # password would start the kernel (201).
    response = jupyter_access.client().post(
        api_url(jupyter_access.url, "api/kernels"),
        json={"name": "python3"},
        headers={"X-XSRFToken": "ecs-dl-test", "Cookie": "_xsrf=ecs-dl-test"},
        timeout=30,
    )
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("wrong", ["", "not-the-password"])
def test_a_wrong_password_is_refused(jupyter_access: Any, wrong: str) -> None:
    assert wrong != jupyter_access.password
    client = jupyter_access.client()
    with pytest.raises(LoginRefused, match="refused the password"):
        login(jupyter_access.url, wrong, session=client)
    assert not is_logged_in(client, jupyter_access.url)
    assert api_status(client, jupyter_access.url, "api/kernels") == 403


def test_the_password_logs_in_and_shows_the_notebook(
    jupyter_access: Any, jupyter_session: requests.Session
) -> None:
    assert is_logged_in(jupyter_session, jupyter_access.url)
    folder, _, name = jupyter_access.notebook.rpartition("/")
    names = {entry["name"] for entry in list_contents(jupyter_session, jupyter_access.url, folder)}
    assert name in names, f"{name} is not in {folder or 'the root'}: {sorted(names)}"
    notebook = get_notebook(jupyter_session, jupyter_access.url, jupyter_access.notebook)
    assert any(cell["cell_type"] == "code" for cell in notebook["cells"])


@pytest.mark.parametrize("is_cat", [True, False], ids=["cat", "not-cat"])
def test_the_classify_notebook_gives_the_verdict(
    jupyter_access: Any, jupyter_session: requests.Session, is_cat: bool
) -> None:
    image = jupyter_access.cat_image if is_cat else jupyter_access.not_cat_image
    run = run_notebook(
        jupyter_session,
        jupyter_access.url,
        jupyter_access.notebook,
        preamble=image_preamble(image),
        timeout=NOTEBOOK_TIMEOUT,
    )
    output = run.text
    assert "error:" not in output, output
    verdicts = VERDICT.findall(output)
    assert len(verdicts) == 1, f"expected one verdict line in the notebook's output:\n{output}"
    word, probability = verdicts[0][0], float(verdicts[0][1])
    top = TOP_ENTRY.findall(output)
    assert len(top) == 5, output
    labels = [label for _, label in top]
    if is_cat:
        assert word == "CAT", output
        assert probability >= 0.5, output
        assert CAT_LABELS & set(labels), f"no cat class in the top 5: {labels}"
    else:
        assert word == "no cat", output
        assert probability < 0.5, output
    assert run.kernel_id not in {k["id"] for k in list_kernels(jupyter_session, jupyter_access.url)}
    # The last cell draws the picture and what the model saw, inline.
    figures = [o for o in run.cells[-1].outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 1, f"the picture cell drew {len(figures)} figures"


def test_the_train_notebook_trains_and_classifies_a_digit(
    jupyter_access: Any, jupyter_session: requests.Session
) -> None:
    run = run_notebook(
        jupyter_session,
        jupyter_access.url,
        "train.ipynb",
        preamble='import os; os.environ["TRAIN_OUTPUT"] = "/tmp/ecs-dl-test/mlp"',
        timeout=NOTEBOOK_TIMEOUT,
    )
    output = run.text
    accuracy = re.search(r"validation accuracy (\d\.\d+)", output)
    assert accuracy, output
    assert float(accuracy.group(1)) >= 0.9, output
    assert "wrote /tmp/ecs-dl-test/mlp-0000.params" in output, output
    true_label = re.search(r"true label: (\d)", output)
    predicted = re.search(r"predicted: \[\{'label': '(\d)'", output)
    assert true_label and predicted, output
    assert predicted.group(1) == true_label.group(1), output


def test_a_failing_notebook_reports_the_traceback_and_frees_its_kernel(
    jupyter_access: Any, jupyter_session: requests.Session
) -> None:
    before = {k["id"] for k in list_kernels(jupyter_session, jupyter_access.url)}
    missing = "/nonexistent/ecs-dl-no-such-photo.jpg"
    with pytest.raises(CellError) as failure:
        run_notebook(
            jupyter_session,
            jupyter_access.url,
            jupyter_access.notebook,
            preamble=image_preamble(missing),
            timeout=NOTEBOOK_TIMEOUT,
        )
    assert f"{missing}: no such file" in failure.value.evalue
    assert "Traceback" in failure.value.traceback
    assert {k["id"] for k in list_kernels(jupyter_session, jupyter_access.url)} <= before


def test_the_classify_notebook_runs_with_nothing_typed(
    jupyter_access: Any, jupyter_session: requests.Session
) -> None:
    """No IMAGE given: the notebook classifies the sample cat site.yml put in the input bucket."""
    run = run_notebook(
        jupyter_session, jupyter_access.url, jupyter_access.notebook, timeout=NOTEBOOK_TIMEOUT
    )
    output = run.text
    assert "samples/chelsea.jpg" in output, output
    assert [word for word, _ in VERDICT.findall(output)] == ["CAT"], output


def test_pip_install_user_works_and_the_kernel_sees_it(
    jupyter_access: Any, jupyter_session: requests.Session
) -> None:
    """The notebook user (not root, who owns the image's venv) installs a package with
    `%pip install` (pip's --user is the image's default) and with `%pip install --user`; both
    go to the user site in the workspace (PYTHONUSERBASE=/home/jovyan/work/.local: they
    survive a new task, issue 17), and the running kernel imports them without a restart. The
    wheels are uploaded through the API: these machines reach no package index from the
    container."""
    names = ("ecsdl_pip_probe_a", "ecsdl_pip_probe_b")
    wheels = [tiny_wheel(name) for name in names]
    notebook = "pip-probe.ipynb"
    try:
        for filename, data in wheels:
            put_file(jupyter_session, jupyter_access.url, filename, data)
        put_notebook(
            jupyter_session,
            jupyter_access.url,
            notebook,
            [
                f"%pip install --no-index --no-deps /home/jovyan/work/{wheels[0][0]}",
                f"%pip install --user --no-index --no-deps /home/jovyan/work/{wheels[1][0]}",
                f"import {names[0]}, {names[1]}\n"
                f"print('A', {names[0]}.WHERE)\nprint('B', {names[1]}.WHERE)",
            ],
        )
        run = run_notebook(jupyter_session, jupyter_access.url, notebook, timeout=NOTEBOOK_TIMEOUT)
    finally:
        for path in (notebook, *(filename for filename, _ in wheels)):
            delete_path(jupyter_session, jupyter_access.url, path)
    output = run.text
    site = "/home/jovyan/work/.local/lib/python3.11/site-packages"
    assert f"Successfully installed {names[0].replace('_', '-')}-0.1" in output, output
    assert f"A {site}/{names[0]}" in output and f"B {site}/{names[1]}" in output, output
