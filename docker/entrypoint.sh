#!/bin/sh
# ecsdl-entrypoint: run under tini as the image's ENTRYPOINT; `"$@"` is the command
# (default `start-notebook`; ECS tasks give e.g. `classify --json --model s3://... s3://...`).
#
# Contract (environment, all optional):
#   SSH_PUBLIC_KEY   one or more OpenSSH public keys. When set (and the container starts as root,
#                    the image's default), they become the user's authorized_keys, fresh ed25519
#                    host keys are generated, and sshd listens on 22 (key only, no root login).
#                    Unset: no sshd.
#   JUPYTER_PASSWORD_HASH  read by start-notebook / jupyter_server_config.py, not here.
#
# As root it does only what needs root (sshd), then runs the command as the unprivileged user
# ($ECSDL_USER, jovyan, uid 1000) with no capabilities and no way back (setpriv
# --no-new-privs). Started as a non-root user (docker run --user 1000), it runs the command
# directly and refuses SSH_PUBLIC_KEY, which it could not honour.
set -eu

user="${ECSDL_USER:-jovyan}"
home="/home/${user}"

start_sshd() {
    install -d -m 700 -o "${user}" -g "${user}" "${home}/.ssh"
    printf '%s\n' "${SSH_PUBLIC_KEY}" > "${home}/.ssh/authorized_keys"
    chown "${user}:${user}" "${home}/.ssh/authorized_keys"
    chmod 600 "${home}/.ssh/authorized_keys"
    if ! ssh-keygen -l -f "${home}/.ssh/authorized_keys" > /dev/null 2>&1; then
        echo "ecsdl-entrypoint: SSH_PUBLIC_KEY is not an OpenSSH public key; sshd not started" >&2
        exit 64
    fi
    if [ ! -f /etc/ssh/ssh_host_ed25519_key ]; then
        ssh-keygen -q -t ed25519 -N '' -C "" -f /etc/ssh/ssh_host_ed25519_key
    fi
    install -d -m 755 /run/sshd
    # -e: log to stderr (the container's log); sshd daemonizes and keeps running as root.
    /usr/sbin/sshd -e
    echo "ecsdl-entrypoint: sshd listening on 22 (key-only logins as ${user})" >&2
}

if [ "$#" -eq 0 ]; then
    set -- start-notebook
fi

if [ "$(id -u)" = 0 ]; then
    if [ -n "${SSH_PUBLIC_KEY:-}" ]; then
        start_sshd
    fi
    export HOME="${home}" USER="${user}" LOGNAME="${user}"
    exec setpriv --reuid="${user}" --regid="${user}" --init-groups \
        --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
fi

if [ -n "${SSH_PUBLIC_KEY:-}" ]; then
    echo "ecsdl-entrypoint: SSH_PUBLIC_KEY is set but the container runs as uid $(id -u); sshd needs to start as root (the image's default user)" >&2
    exit 64
fi
exec "$@"
