#!/usr/bin/env python3
"""Write the sha256 of every wheel the MXNet image may install into its requirement files.

The image installs each Python package with `--require-hashes`: a wheel whose sha256 is not
listed beside its pin is refused, so a package index (or a proxy, or a mirror) that serves other
bytes for the same name and version stops the build. The versions are chosen by hand (each file
says why); this script only adds the hashes, for the wheels that can install on the image's
platform (CPython 3.11, Debian bookworm's glibc 2.36, x86_64): `uv pip compile` picks them
(`--python-platform`, `--only-binary :all:`) and writes them as a PEP 751 lock file, whose
wheels and sha256 are copied back below each pin. Comments and the order of the pins are kept.

After changing a version (or adding a package) in one of the files:

    pip install uv==0.13.9                  # the image's uv (docker/build/tools.txt)
    python3 scripts/lock_image_requirements.py
    python3 scripts/lock_image_requirements.py --check    # 0: every file is up to date

Needs the package index (pypi.org, or the index uv is configured with) and nothing else.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every requirement file the Dockerfile installs from (tests/unit/test_supply_chain.py checks
# that the list and the Dockerfile agree).
FILES = [
    "docker/requirements.txt",  # the venv: Jupyter, numpy, OpenCV, boto3, ...
    "docker/mxnet/mxnet.txt",  # MXNET_PACKAGE=mxnet==1.9.1 (CPU)
    "docker/mxnet/mxnet-cu112.txt",  # MXNET_PACKAGE=mxnet-cu112==1.9.1 (CUDA 11.2)
    "docker/cuda/requirements.txt",  # the CUDA 11 libraries of the GPU build
    "docker/build/tools.txt",  # uv and setuptools, in the builder stage only
    "docker/build/pytest.txt",  # pytest for the test stage
    "docker/build/digits.txt",  # scikit-learn's wheel, for its digits data only
]
# The image: Debian bookworm's python3 (3.11.2, glibc 2.36) on x86_64.
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-manylinux_2_36"

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text: str) -> list[tuple[str, str] | str]:
    """The file as a list of kept lines (comments, blanks) and (name, version) pins; the hash
    lines that follow a pin (continuations) are dropped."""
    items: list[tuple[str, str] | str] = []
    continued = False
    for line in text.splitlines():
        stripped = line.strip()
        if continued:
            continued = stripped.endswith("\\")
            continue
        if not stripped or stripped.startswith("#"):
            items.append(line)
            continue
        match = PIN.match(stripped)
        if not match:
            raise SystemExit(f"not a pinned requirement (NAME==VERSION): {line!r}")
        items.append((match.group(1), match.group(2)))
        continued = stripped.endswith("\\")
    return items


def wheel_hashes(pins: list[tuple[str, str]], uv: str) -> dict[str, list[str]]:
    """{canonical name: sorted sha256 of its wheels for the image's platform}, from uv."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "pins.in"
        source.write_text("".join(f"{name}=={version}\n" for name, version in pins))
        lock = Path(tmp) / "pylock.toml"
        command = [
            uv, "pip", "compile", "--quiet", "--no-config", "--no-deps", "--only-binary", ":all:",
            "--python-version", PYTHON_VERSION, "--python-platform", PYTHON_PLATFORM,
            "--output-file", str(lock), str(source),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        packages = tomllib.loads(lock.read_text())["packages"]
    found: dict[str, list[str]] = {}
    for package in packages:
        digests = sorted(wheel["hashes"]["sha256"] for wheel in package.get("wheels", []))
        if not digests:
            raise SystemExit(f"{package['name']}=={package['version']}: no wheel for the image")
        found[canonical(package["name"])] = digests
    return found


def render(items: list[tuple[str, str] | str], hashes: dict[str, list[str]]) -> str:
    lines: list[str] = []
    for item in items:
        if isinstance(item, str):
            lines.append(item)
            continue
        name, version = item
        digests = hashes[canonical(name)]
        lines.append(f"{name}=={version} \\")
        lines.extend(
            f"    --hash=sha256:{digest}" + (" \\" if i < len(digests) - 1 else "")
            for i, digest in enumerate(digests)
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "files", nargs="*", default=FILES, help="requirement files (default: the image's)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 and name the files whose hashes are missing or out of date",
    )
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv to run")
    args = parser.parse_args(argv)
    stale = []
    for name in args.files:
        path = ROOT / name if not Path(name).is_absolute() else Path(name)
        text = path.read_text()
        items = parse(text)
        pins = [item for item in items if isinstance(item, tuple)]
        new = render(items, wheel_hashes(pins, args.uv))
        if new != text:
            stale.append(name)
            if not args.check:
                path.write_text(new)
        print(f"{name}: {len(pins)} pins, {'out of date' if new != text else 'up to date'}"
              f"{' (rewritten)' if new != text and not args.check else ''}")  # fmt: skip
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
