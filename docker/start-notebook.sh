#!/bin/sh
# The image's default command: JupyterLab on 0.0.0.0:8888, password only.
# JUPYTER_PASSWORD_HASH must hold a jupyter_server.auth.passwd() hash ("argon2:..."), given at
# run time (ECS injects it from an SSM SecureString). Without it Jupyter is not started: never an
# open server. /etc/jupyter/jupyter_server_config.py checks the same for direct `jupyter` calls.
case "${JUPYTER_PASSWORD_HASH:-}" in
    *:*) ;;
    "") echo "start-notebook: JUPYTER_PASSWORD_HASH is not set (a jupyter_server.auth.passwd() hash); refusing to start Jupyter without a password" >&2
        exit 64 ;;
    *) echo "start-notebook: JUPYTER_PASSWORD_HASH does not look like a jupyter_server.auth.passwd() hash (algorithm:...); refusing to start Jupyter" >&2
        exit 64 ;;
esac
# The image sets MPLBACKEND=Agg for the command-line tools; the kernels must not inherit it, or
# plt.show() in a notebook draws nothing (ipykernel's inline backend is the default without it).
unset MPLBACKEND
exec jupyter lab "$@"
