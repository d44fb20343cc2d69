#!/bin/sh
# ecsdl-entrypoint: the image's ENTRYPOINT; `"$@"` is the command (default `start-notebook`; ECS
# tasks give e.g. `classify --json --model s3://... s3://...`).
#
# Nothing here needs root: the image's user is jovyan (uid 61000: no account of a usual host has
# it, so no host user shares the container's processes), and sshd, when asked for, runs as that
# user too, unprivileged, on 2222. The container needs no capability at all.
#
# Two stages, in one process until tini:
#   1. (this script as the container's first process) the secrets of the environment go into
#      files only the user can read, in a folder of its own (ECSDL_SECRETS_DIR, 0700), and out
#      of the environment; then it execs tini (PID 1 when the container was started this way)
#      with the script again. So no long-lived process, tini included, has a secret in its
#      environment (/proc/<pid>/environ), and no child inherits one.
#   2. (under tini, ECSDL_STAGE=2) sshd when asked for, then the command.
#
# Contract (environment, all optional):
#   SSH_PUBLIC_KEY   one or more OpenSSH public keys. When set, they become the user's
#                    authorized_keys, the ed25519 host key is written (SSH_HOST_KEY) or freshly
#                    generated, and sshd listens on 2222 (key only, logins as jovyan only: an
#                    unprivileged sshd can log in no one but the user it runs as). Not a public
#                    key: exit 64. Unset: no sshd. The container must run as jovyan (the image's
#                    default, or root, see below); as any other uid: exit 64.
#   SSH_HOST_KEY     an unencrypted OpenSSH ed25519 private key (the whole PEM-like text,
#                    newlines included; the deployment keeps it in SSM SecureString) used as
#                    sshd's host key instead of a fresh one, so the host key is the same after
#                    every restart and known_hosts can be written ahead. Only with
#                    SSH_PUBLIC_KEY (alone: ignored, with a note on stderr). Written 0600 to
#                    /etc/ssh/ecsdl/ssh_host_ed25519_key, owned by jovyan (sshd runs as jovyan
#                    and must read it, so the notebook user can read it too: it is only the
#                    container's identity, and the same user already holds the session); not a
#                    valid unencrypted ed25519 private key (ssh-keygen -y cannot read it): exit
#                    64. Never printed, and removed from the environment in stage 1.
#   JUPYTER_PASSWORD_HASH  a jupyter_server.auth.passwd() hash: written to
#                    $ECSDL_SECRETS_DIR/jupyter-password-hash (0600) in stage 1 and removed from
#                    the environment; start-notebook and jupyter_server_config.py read the file.
#   JUPYTER_TLS_KEY  Jupyter's TLS private key (PEM; the deployment keeps it in SSM SecureString):
#                    written to $ECSDL_SECRETS_DIR/jupyter-tls.key (0600) in stage 1 and removed
#                    from the environment, like the hash. Only with JUPYTER_TLS_CERT.
#   JUPYTER_TLS_CERT its certificate (PEM; public): written beside it, jupyter-tls.crt. Jupyter
#                    serves HTTPS only: start-notebook refuses to start without the two.
#
# Started as root anyway (docker run --user 0, a task definition's `user: root`), it first
# becomes jovyan, with no capabilities and no way back (setpriv --no-new-privs), and then does
# the same as above: no process of the container keeps root. Started as another non-root uid
# (docker run --user 1234), it runs the command (its secrets in a folder of that uid's) and
# refuses SSH_PUBLIC_KEY.
set -eu

user="${ECSDL_USER:-jovyan}"

if [ "$(id -u)" = 0 ]; then
    # The same script again, as the user; the secrets are still in the environment of this one
    # process (setpriv execs the script in place: no other process exists in between), and the
    # script takes them out below, before it starts anything.
    exec setpriv --reuid="${user}" --regid="${user}" --init-groups \
        --inh-caps=-all --bounding-set=-all --no-new-privs -- "$0" "$@"
fi

home="/home/${user}"
sshd_dir=/etc/ssh/ecsdl
host_key_file="${sshd_dir}/ssh_host_ed25519_key"
is_user=false
if [ "$(id -un 2> /dev/null || true)" = "${user}" ]; then
    is_user=true
fi

# The secrets go into shell variables that are never exported, and out of the environment,
# before anything else runs: no child of this script (ssh-keygen, sshd, tini, the command)
# inherits them.
host_key="${SSH_HOST_KEY:-}"
password_hash="${JUPYTER_PASSWORD_HASH:-}"
tls_key="${JUPYTER_TLS_KEY:-}"
tls_cert="${JUPYTER_TLS_CERT:-}"
unset SSH_HOST_KEY JUPYTER_PASSWORD_HASH JUPYTER_TLS_KEY JUPYTER_TLS_CERT

# Writes $host_key as sshd's ed25519 host key (and its public half beside it), or exits 64.
# printf is a shell builtin: the key never appears in a process's arguments.
install_host_key() {
    rm -f "${host_key_file}" "${host_key_file}.pub"
    (umask 077 && printf '%s\n' "${host_key}" > "${host_key_file}")
    host_key=""
    chmod 600 "${host_key_file}"
    # -P '': an encrypted key fails instead of prompting; the output is the public half only.
    public="$(ssh-keygen -y -P '' -f "${host_key_file}" < /dev/null 2> /dev/null || true)"
    case "${public}" in
        ssh-ed25519\ *) ;;
        *)
            rm -f "${host_key_file}"
            echo "ecsdl-entrypoint: SSH_HOST_KEY is not an unencrypted OpenSSH ed25519 private key (ssh-keygen -y cannot read it as one); sshd not started" >&2
            exit 64
            ;;
    esac
    printf '%s\n' "${public}" > "${host_key_file}.pub"
    chmod 644 "${host_key_file}.pub"
}

start_sshd() {
    install -d -m 700 "${home}/.ssh"
    (umask 077 && printf '%s\n' "${SSH_PUBLIC_KEY}" > "${home}/.ssh/authorized_keys")
    chmod 600 "${home}/.ssh/authorized_keys"
    if ! ssh-keygen -l -f "${home}/.ssh/authorized_keys" > /dev/null 2>&1; then
        echo "ecsdl-entrypoint: SSH_PUBLIC_KEY is not an OpenSSH public key; sshd not started" >&2
        exit 64
    fi
    if [ -n "${ECSDL_HOST_KEY_ORIGIN:-}" ]; then
        origin="${ECSDL_HOST_KEY_ORIGIN}"  # written in stage 1
        unset ECSDL_HOST_KEY_ORIGIN
    elif [ ! -f "${host_key_file}" ]; then
        ssh-keygen -q -t ed25519 -N '' -C "" -f "${host_key_file}"
        origin="generated"
    else
        origin="kept from the last start"
    fi
    # -e: log to stderr (the container's log). sshd daemonizes (tini, PID 1, reaps it) and runs
    # as the user: no privilege separation user, chroot or PAM (sshd_config: UsePAM no).
    /usr/sbin/sshd -e
    echo "ecsdl-entrypoint: sshd listening on 2222 (key-only logins as ${user}; host key ${origin}: $(ssh-keygen -l -f "${host_key_file}.pub" | cut -d' ' -f2))" >&2
}

if [ "$#" -eq 0 ]; then
    set -- start-notebook
fi

# -- stage 1: the secrets into files, then tini ---------------------------------------------
if [ "${ECSDL_STAGE:-1}" != 2 ]; then
    if [ -n "${host_key}" ] && [ -z "${SSH_PUBLIC_KEY:-}" ]; then
        echo "ecsdl-entrypoint: SSH_HOST_KEY is set but SSH_PUBLIC_KEY is not: no sshd, the host key is ignored" >&2
        host_key=""
    fi
    if [ -n "${SSH_PUBLIC_KEY:-}" ] && ! "${is_user}"; then
        echo "ecsdl-entrypoint: SSH_PUBLIC_KEY is set but the container runs as uid $(id -u), not ${user}; sshd runs unprivileged and can only log in the user it runs as" >&2
        exit 64
    fi
    if [ -n "${host_key}" ]; then
        install_host_key
        export ECSDL_HOST_KEY_ORIGIN="from SSH_HOST_KEY"
    fi
    if { [ -n "${tls_key}" ] && [ -z "${tls_cert}" ]; } || { [ -z "${tls_key}" ] && [ -n "${tls_cert}" ]; }; then
        echo "ecsdl-entrypoint: JUPYTER_TLS_KEY and JUPYTER_TLS_CERT go together (a key and its certificate); only one is set" >&2
        exit 64
    fi
    if [ -n "${password_hash}${tls_key}" ]; then
        # A folder of this uid's own (0700), made anew: the files are readable by the user only.
        ECSDL_SECRETS_DIR="$(mktemp -d /tmp/ecsdl-secrets.XXXXXXXX)"
        if [ -n "${password_hash}" ]; then
            (umask 077 && printf '%s\n' "${password_hash}" > "${ECSDL_SECRETS_DIR}/jupyter-password-hash")
        fi
        if [ -n "${tls_key}" ]; then
            (umask 077 && printf '%s\n' "${tls_key}" > "${ECSDL_SECRETS_DIR}/jupyter-tls.key" \
                && printf '%s\n' "${tls_cert}" > "${ECSDL_SECRETS_DIR}/jupyter-tls.crt")
        fi
        password_hash=""
        tls_key=""
        export ECSDL_SECRETS_DIR
    fi
    export ECSDL_STAGE=2
    # tini (PID 1 when this was the first process) reaps sshd and the command; started in
    # another way (docker build's RUN, docker exec), it registers as the subreaper instead.
    if [ "$$" = 1 ]; then
        exec /usr/bin/tini -g -- "$0" "$@"
    fi
    exec /usr/bin/tini -s -g -- "$0" "$@"
fi

# -- stage 2: under tini ----------------------------------------------------------------------
unset ECSDL_STAGE
if "${is_user}"; then
    export HOME="${home}" USER="${user}" LOGNAME="${user}"
    if [ -n "${SSH_PUBLIC_KEY:-}" ]; then
        start_sshd
    fi
fi
exec "$@"
