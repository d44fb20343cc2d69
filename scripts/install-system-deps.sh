#!/bin/sh
# Install the Debian packages the local target needs (see roles/local_stack/README.md):
#   docker.io        dockerd, the instances' Docker engine
#   docker-registry  the Distribution registry, ECR's counterpart
#   openssh-server   sshd, the instances you SSH into
#   debootstrap      builds the offline Debian base image
# As root: installs what is missing (apt-get update only when something is).
# As another user: lists what is missing and exits 1 when anything is.
set -eu

PACKAGES="docker.io docker-registry openssh-server debootstrap"

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $package" ;;
    esac
done
missing=${missing# }

if [ -z "$missing" ]; then
    echo "System packages present: $PACKAGES"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: $missing" >&2
    echo "Install them as root:  sudo apt-get update && sudo apt-get install -y $missing" >&2
    exit 1
fi

echo "Installing: $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # one word per package
apt-get install -y -qq --no-install-recommends $missing
echo "Installed: $missing"
