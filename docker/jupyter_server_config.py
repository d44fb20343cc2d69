"""Jupyter server settings of the ecs-dl image (system config: /etc/jupyter).

Password only, given at run time: a `jupyter_server.auth.passwd()` hash (argon2), which ECS
injects from an SSM SecureString as JUPYTER_PASSWORD_HASH and the image's entrypoint moves to
$ECSDL_SECRETS_DIR/jupyter-password-hash (0600) before the server starts, so that the server's
and its kernels' environment hold no secret. Read from that file, or from JUPYTER_PASSWORD_HASH
when `jupyter` is started without the entrypoint. Without it the server refuses to start (never
an open server); there is no token in URLs.

HTTPS only: the TLS key and certificate (JUPYTER_TLS_KEY, an SSM SecureString, and
JUPYTER_TLS_CERT), which the entrypoint wrote to $ECSDL_SECRETS_DIR/jupyter-tls.key and .crt
(0600). Without them, or when they do not load as a key and its certificate, the server refuses
to start: a plain-HTTP request on the port gets no answer from Jupyter.
"""

import os
import ssl
import sys

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)


def _read_password_hash() -> str:
    secrets_dir = os.environ.get("ECSDL_SECRETS_DIR", "")
    if secrets_dir:
        try:
            with open(os.path.join(secrets_dir, "jupyter-password-hash"), encoding="utf-8") as f:
                return f.read().strip()
        except OSError:
            pass
    return os.environ.get("JUPYTER_PASSWORD_HASH", "").strip()


_password_hash = _read_password_hash()
if ":" not in _password_hash:
    sys.exit(
        "jupyter_server_config: JUPYTER_PASSWORD_HASH is not set to a "
        "jupyter_server.auth.passwd() hash; refusing to start Jupyter without a password"
    )

_secrets_dir = os.environ.get("ECSDL_SECRETS_DIR", "")
_tls_key = os.path.join(_secrets_dir, "jupyter-tls.key") if _secrets_dir else ""
_tls_cert = os.path.join(_secrets_dir, "jupyter-tls.crt") if _secrets_dir else ""
if not (_tls_key and os.path.isfile(_tls_key) and os.path.isfile(_tls_cert)):
    sys.exit(
        "jupyter_server_config: no TLS key and certificate (JUPYTER_TLS_KEY and "
        "JUPYTER_TLS_CERT, written by the image's entrypoint); refusing to serve Jupyter over "
        "plain HTTP"
    )
try:
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(_tls_cert, _tls_key)
except (ssl.SSLError, ValueError) as exc:
    sys.exit(
        "jupyter_server_config: JUPYTER_TLS_KEY and JUPYTER_TLS_CERT are not a PEM private key "
        f"and its certificate ({exc}); refusing to start Jupyter"
    )

c.ServerApp.certfile = _tls_cert
c.ServerApp.keyfile = _tls_key
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.allow_remote_access = True
# No proxy or load balancer is in front of it (clients reach the task's host port directly):
# X-Forwarded-For/-Proto/-Host come from the client itself, so they are not trusted (a client
# could name any address or scheme). Explicit, though it is jupyter_server's default.
c.ServerApp.trust_xheaders = False
c.ServerApp.root_dir = os.path.expanduser("~/work")
# The URL opens JupyterLab (`jupyter lab`'s own default; also for `jupyter server`).
c.ServerApp.default_url = "/lab"
# JupyterLab calls nobody: no news feed (and no prompt asking about it), no update check.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.PasswordIdentityProvider.hashed_password = _password_hash
c.PasswordIdentityProvider.password_required = True
c.PasswordIdentityProvider.allow_password_change = False
c.IdentityProvider.token = ""
