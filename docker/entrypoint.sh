#!/bin/sh
# ecsdl-entrypoint: run under tini as the image's ENTRYPOINT; `"$@"` is the command
# (default `start-notebook`; ECS tasks give e.g. `classify --json --model s3://... s3://...`).
#
# Contract (environment, all optional):
#   SSH_PUBLIC_KEY   one or more OpenSSH public keys. When set (and the container starts as root,
#                    the image's default), they become the user's authorized_keys, the ed25519
#                    host key is written (SSH_HOST_KEY) or freshly generated, and sshd listens on
#                    22 (key only, no root login). Not a public key: exit 64. Unset: no sshd.
#   SSH_HOST_KEY     an unencrypted OpenSSH ed25519 private key (the whole PEM-like text,
#                    newlines included; the deployment keeps it in SSM SecureString) used as
#                    sshd's host key instead of a fresh one, so the host key is the same after
#                    every restart and known_hosts can be written ahead. Only with
#                    SSH_PUBLIC_KEY (alone: ignored, with a note on stderr). Written root-only
#                    (0600) to /etc/ssh/ssh_host_ed25519_key; not a valid unencrypted ed25519
#                    private key (ssh-keygen -y cannot read it): exit 64. Never printed, and
#                    ALWAYS removed from the environment before sshd and the command start, so
#                    the notebook user's processes do not see it (only the container's config,
#                    e.g. `docker inspect`, and root's PID 1 still hold it).
#   JUPYTER_PASSWORD_HASH  read by start-notebook / jupyter_server_config.py, not here.
#
# As root it does only what needs root (sshd), then runs the command as the unprivileged user
# ($ECSDL_USER, jovyan, uid 1000) with no capabilities and no way back (setpriv
# --no-new-privs). Started as a non-root user (docker run --user 1000), it runs the command
# directly and refuses SSH_PUBLIC_KEY, which it could not honour.
set -eu

user="${ECSDL_USER:-jovyan}"
home="/home/${user}"
host_key_file=/etc/ssh/ssh_host_ed25519_key

# The host key goes into a shell variable that is never exported, and out of the environment,
# before anything else runs: no child of this script (ssh-keygen, sshd, the command) inherits it.
host_key="${SSH_HOST_KEY:-}"
unset SSH_HOST_KEY

# Writes $host_key as sshd's ed25519 host key (and its public half beside it), or exits 64.
# printf is a shell builtin: the key never appears in a process's arguments.
install_host_key() {
    rm -f "${host_key_file}" "${host_key_file}.pub"
    (umask 077 && printf '%s\n' "${host_key}" > "${host_key_file}")
    host_key=""
    chown root:root "${host_key_file}"
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
    install -d -m 700 -o "${user}" -g "${user}" "${home}/.ssh"
    printf '%s\n' "${SSH_PUBLIC_KEY}" > "${home}/.ssh/authorized_keys"
    chown "${user}:${user}" "${home}/.ssh/authorized_keys"
    chmod 600 "${home}/.ssh/authorized_keys"
    if ! ssh-keygen -l -f "${home}/.ssh/authorized_keys" > /dev/null 2>&1; then
        echo "ecsdl-entrypoint: SSH_PUBLIC_KEY is not an OpenSSH public key; sshd not started" >&2
        exit 64
    fi
    if [ -n "${host_key}" ]; then
        install_host_key
        origin="from SSH_HOST_KEY"
    elif [ ! -f "${host_key_file}" ]; then
        ssh-keygen -q -t ed25519 -N '' -C "" -f "${host_key_file}"
        origin="generated"
    else
        origin="kept from the last start"
    fi
    install -d -m 755 /run/sshd
    # -e: log to stderr (the container's log); sshd daemonizes and keeps running as root.
    /usr/sbin/sshd -e
    echo "ecsdl-entrypoint: sshd listening on 22 (key-only logins as ${user}; host key ${origin}: $(ssh-keygen -l -f "${host_key_file}.pub" | cut -d' ' -f2))" >&2
}

if [ "$#" -eq 0 ]; then
    set -- start-notebook
fi

if [ -n "${host_key}" ] && [ -z "${SSH_PUBLIC_KEY:-}" ]; then
    echo "ecsdl-entrypoint: SSH_HOST_KEY is set but SSH_PUBLIC_KEY is not: no sshd, the host key is ignored" >&2
    host_key=""
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
