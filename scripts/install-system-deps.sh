#!/bin/sh
# Install the Debian packages the local target needs (see roles/local_stack/README.md):
#   docker.io        dockerd, the instances' Docker engine
#   docker-registry  the Distribution registry, ECR's counterpart
#   openssh-server   sshd, the instances you SSH into
#   debootstrap      builds the offline Debian base image
# and, with --tests, what the tests need besides:
#   chromium         the headless browser of the browser test (tests/integration/test_browser.py)
#   chromium-driver  chromedriver, through which Selenium drives it (nothing is downloaded)
#   libarchive-tools bsdtar, macOS's tar, which the image build's packing must work with too
# As root: installs what is missing (apt-get update only when something is).
# As another user: lists what is missing and exits 1 when anything is.
#
# The project needs the programs, not the system services these packages come with: on a
# systemd machine, installing openssh-server would start sshd on 0.0.0.0:22 with password logins,
# and docker-registry a registry without authentication on port 5000. While it installs them,
# a policy-rc.d (when the machine has none) keeps their services from starting, and afterwards
# the script disables the units it brought, so the system's sshd and registry stay as they were
# (not there). dockerd is not held back: the local target uses the system's when it runs.
# ECS_DL_DEPS_ROOT prefixes the absolute paths it touches (tests run it in a scratch folder).
set -eu

root="${ECS_DL_DEPS_ROOT:-}"
policy="${root}/usr/sbin/policy-rc.d"
# package -> the systemd units of its that must not run
held_units() {
    case "$1" in
        openssh-server) echo "ssh.service ssh.socket" ;;
        docker-registry) echo "docker-registry.service" ;;
    esac
}

PACKAGES="docker.io docker-registry openssh-server debootstrap"
with_tests=false
case "${1:-}" in
    --tests) with_tests=true; PACKAGES="$PACKAGES chromium chromium-driver libarchive-tools" ;;
    "") ;;
    *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

# A tool counts as present however it was installed (a laptop's Docker Desktop included):
# each package is needed only when its command is missing.
has_docker() {
    command -v dockerd >/dev/null 2>&1 || { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
}
missing=""
has_docker || missing="$missing docker.io"
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
[ -x "${root}/usr/sbin/sshd" ] || command -v sshd >/dev/null 2>&1 || missing="$missing openssh-server"
command -v debootstrap >/dev/null 2>&1 || [ -x "${root}/usr/sbin/debootstrap" ] || missing="$missing debootstrap"
if $with_tests; then
    command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
    command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
    command -v bsdtar >/dev/null 2>&1 || missing="$missing libarchive-tools"
fi
missing=${missing# }

if [ -z "$missing" ]; then
    echo "System packages present: $PACKAGES"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing Debian packages: $missing" >&2
    echo "Install them as root:  sudo apt-get update && sudo apt-get install -y $missing" >&2
    echo "(elsewhere: the same tools from your system's packages)" >&2
    exit 1
fi

held=""
for package in $missing; do
    held="$held $(held_units "$package")"
done
held=$(echo $held)  # one space between words, none around

echo "Installing: $missing"
export DEBIAN_FRONTEND=noninteractive
own_policy=false
if [ -n "$held" ] && [ ! -e "$policy" ]; then
    # invoke-rc.d asks this before it starts a service: 101 is "action forbidden".
    cat > "$policy" <<'POLICY'
#!/bin/sh
# Written by ecs-deep-learning's scripts/install-system-deps.sh for one apt-get run.
case "$1" in
    ssh|ssh.service|ssh.socket|docker-registry|docker-registry.service) exit 101 ;;
esac
exit 0
POLICY
    chmod 755 "$policy"
    own_policy=true
fi
cleanup() { if $own_policy; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq
# shellcheck disable=SC2086  # one word per package
apt-get install -y -qq --no-install-recommends $missing
cleanup
own_policy=false
echo "Installed: $missing"

# The units the packages enabled would start at the next boot: disabled (and stopped, should a
# policy-rc.d of the machine's own have let them start).
if [ -n "$held" ] && [ -d "${root}/run/systemd/system" ] && command -v systemctl >/dev/null 2>&1; then
    for unit in $held; do
        systemctl disable --now "$unit" >/dev/null 2>&1 || true  # ssh.socket may not exist
    done
    echo "Left disabled (the project runs its own on loopback): $held"
fi
