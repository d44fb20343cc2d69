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
set -eu

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
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || missing="$missing openssh-server"
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing="$missing debootstrap"
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

echo "Installing: $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # one word per package
apt-get install -y -qq --no-install-recommends $missing
echo "Installed: $missing"
