#!/bin/sh
# The image's default command: JupyterLab on 0.0.0.0:8888, HTTPS and password only.
# The password is a jupyter_server.auth.passwd() hash ("argon2:..."), given at run time as
# JUPYTER_PASSWORD_HASH (ECS injects it from an SSM SecureString), which the entrypoint moved to
# $ECSDL_SECRETS_DIR/jupyter-password-hash (0600) before anything started. Without it Jupyter is
# not started: never an open server. /etc/jupyter/jupyter_server_config.py reads and checks the
# same for direct `jupyter` calls.
hash_file="${ECSDL_SECRETS_DIR:-/nonexistent}/jupyter-password-hash"
if [ -z "${JUPYTER_PASSWORD_HASH:-}" ] && [ -r "${hash_file}" ]; then
    JUPYTER_PASSWORD_HASH="$(cat "${hash_file}")"  # a shell variable, never exported
fi
case "${JUPYTER_PASSWORD_HASH:-}" in
    *:*) ;;
    "") echo "start-notebook: JUPYTER_PASSWORD_HASH is not set (a jupyter_server.auth.passwd() hash); refusing to start Jupyter without a password" >&2
        exit 64 ;;
    *) echo "start-notebook: JUPYTER_PASSWORD_HASH does not look like a jupyter_server.auth.passwd() hash (algorithm:...); refusing to start Jupyter" >&2
        exit 64 ;;
esac
# HTTPS only: the entrypoint wrote JUPYTER_TLS_KEY and JUPYTER_TLS_CERT (the deployment's key,
# from an SSM SecureString, and its certificate) to $ECSDL_SECRETS_DIR; without them Jupyter is
# not started (never a password over plain HTTP). jupyter_server_config.py loads them.
if [ ! -r "${ECSDL_SECRETS_DIR:-/nonexistent}/jupyter-tls.key" ] || [ ! -r "${ECSDL_SECRETS_DIR:-/nonexistent}/jupyter-tls.crt" ]; then
    echo "start-notebook: JUPYTER_TLS_KEY and JUPYTER_TLS_CERT are not set (a PEM key and its certificate); refusing to serve Jupyter over plain HTTP" >&2
    exit 64
fi
# The work folder (on AWS the deployment's EFS file system, which outlives the task): the sample
# notebooks are copied there on the first start only (a notebook the user deleted stays
# deleted; one they changed is never overwritten), and `pip install --user` goes there when the
# task definition says so (PYTHONUSERBASE), its site-packages made now so that a running kernel
# sees what %pip puts there without a restart.
work="${HOME}/work"
marker="${work}/.ecsdl/notebooks-copied"
if [ -d "${work}" ] && [ -w "${work}" ] && [ ! -e "${marker}" ]; then
    cp -R -n /usr/local/share/ecsdl/notebooks/. "${work}/" \
        && mkdir -p "${work}/.ecsdl" && : > "${marker}"
fi
if [ -n "${PYTHONUSERBASE:-}" ]; then
    mkdir -p "$(python -c 'import site; print(site.getusersitepackages())')" "${PYTHONUSERBASE}/bin"
    PATH="${PYTHONUSERBASE}/bin:${PATH}"
    export PATH
fi
# The image sets MPLBACKEND=Agg for the command-line tools; the kernels must not inherit it, or
# plt.show() in a notebook draws nothing (ipykernel's inline backend is the default without it).
unset MPLBACKEND
exec jupyter lab "$@"
