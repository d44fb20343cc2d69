"""Time the image roles on the local target: cold build, cached build, push, and a push again.

Runs the image_build and image_push roles (the same roles site.yml runs on the first cluster
instance) against this machine's dockerd and the local registry, for deployment_name
ecs-dl-bench, and prints the wall time of each step, how many tasks it changed, the image's
size and its compressed size in the registry. The "instance" is reached with a local
connection here, not through the local sshd: the figures are the build and the push, not SSH.

Before the cold build the benchmark removes the deployment's images, and it builds without
the layer cache (image_build_nocache); it also deletes the repository's tags in the registry.
Needs the local stack (moto, dockerd, registry, base image): it runs playbooks/local_stack.yml
first. Not a test: `python benchmarks/image_build.py [--context DIR] [--keep]`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import REPO_ROOT, ansible_env, recap_changed

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"

PLAYBOOK = """
- name: Point the image roles at this machine, standing for the first cluster instance
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Facts the localhost play of site.yml would have set
      ansible.builtin.set_fact:
        local_stack_registry_endpoint: "127.0.0.1:{{ local_stack_registry_port }}"
        registry_repository_uri: >-
          123456789012.dkr.ecr.{{ aws_region }}.amazonaws.com/{{ deployment_name }}/mxnet
    - name: This machine as the instance, with a local connection
      ansible.builtin.add_host:
        name: bench-instance
        groups: ecs_instances
        ansible_connection: local
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
      changed_when: false

- name: The image roles
  hosts: ecs_instances[0]
  gather_facts: false
  module_defaults:
    group/ecs_dl.deep_learning.aws:
      region: "{{ aws_region }}"
      endpoint_url: "{{ aws_endpoint_url }}"
      access_key: "{{ aws_access_key }}"
      secret_key: "{{ aws_secret_key }}"
  tasks:
    - name: Build
      ansible.builtin.import_role:
        name: image_build
      when: bench_step in ['build', 'clean']
      vars:
        image_build_state: "{{ 'absent' if bench_step == 'clean' else 'present' }}"
    - name: Push
      ansible.builtin.import_role:
        name: image_push
      when: bench_step in ['push', 'clean']
      vars:
        image_push_state: "{{ 'absent' if bench_step == 'clean' else 'present' }}"
"""


@dataclass
class Step:
    """One timed run of the roles."""

    label: str
    step: str
    seconds: float = 0.0
    returncode: int = 0
    changed: int = 0
    output: str = ""


def run(step: Step, playbook: Path, extra: list[str]) -> Step:
    """Run the benchmark playbook for one step and time it."""
    command = ["ansible-playbook", "-i", "inventory/local", str(playbook)]
    command += ["-e", f"bench_step={step.step}", *extra]
    start = time.monotonic()
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=ansible_env(
            ANSIBLE_ROLES_PATH=str(REPO_ROOT / "roles"),
            ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / "collections"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    step.seconds = time.monotonic() - start
    step.returncode = result.returncode
    step.output = result.stdout
    step.changed = recap_changed(result.stdout) if "PLAY RECAP" in result.stdout else -1
    return step


def image_uri(output: str) -> str | None:
    """The image name from the build step's task title."""
    match = re.search(r"already, (\S+:[0-9a-f]{12})\]", output)
    return match.group(1) if match else None


def image_size(uri: str) -> int:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", uri],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    return int(result.stdout.strip() or 0)


def compressed_size(uri: str) -> int:
    """Sum of the layer sizes in the registry's manifest (what a pull downloads)."""
    repository, _, tag = uri.rpartition(":")
    registry, _, name = repository.partition("/")
    request = urllib.request.Request(
        f"http://{registry}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_V2}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        manifest = json.load(response)
    return sum(layer.get("size", 0) for layer in manifest.get("layers", []))


def main(argv: list[str] | None = None) -> int:
    """Clean, build cold, build cached, push, push again; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--deployment-name",
        default="ecs-dl-bench",
        help="deployment_name of the benchmark's images and repository (default: ecs-dl-bench)",
    )
    parser.add_argument(
        "--context",
        default=str(REPO_ROOT / "docker"),
        help="the image's build folder (default: docker/ of this repository)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the images and the registry tags in place at the end",
    )
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="more ansible-playbook -e settings, e.g. local_stack_registry_port=5401 (repeatable)",
    )
    args = parser.parse_args(argv)
    extra = ["-e", f"deployment_name={args.deployment_name}"]
    for setting in args.extra_vars:
        extra += ["-e", setting]

    stack = subprocess.run(
        ["ansible-playbook", "playbooks/local_stack.yml", *extra],
        cwd=REPO_ROOT,
        env=ansible_env(
            ANSIBLE_ROLES_PATH=str(REPO_ROOT / "roles"),
            ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / "collections"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if stack.returncode != 0:
        print(stack.stdout[-4000:], file=sys.stderr)
        print("the local stack did not start (playbooks/local_stack.yml)", file=sys.stderr)
        return 1

    steps = [
        Step("clean (images, registry tags)", "clean"),
        Step("build, cold (no layer cache)", "build"),
        Step("build, cached (same context)", "build"),
        Step("push (both tags)", "push"),
        Step("push again (digests equal)", "push"),
    ]
    if not args.keep:
        steps.append(Step("clean", "clean"))
    with tempfile.TemporaryDirectory(prefix="bench-image-") as scratch:
        playbook = Path(scratch) / "image.yml"
        playbook.write_text(PLAYBOOK)
        # A snapshot of the context, so that edits made meanwhile do not change the version.
        context = Path(scratch) / "context"
        shutil.copytree(args.context, context, symlinks=True)
        extra += ["-e", f"image_build_context={context}"]
        uri = None
        sizes: tuple[int, int] | None = None
        for step in steps:
            more = ["-e", "image_build_nocache=true"] if "cold" in step.label else []
            if step.step == "push" and uri:
                # The push step runs without the build role: name both tags.
                tags = [uri.rpartition(":")[2], "latest"]
                more = ["-e", json.dumps({"image_push_tags": tags})]
            run(step, playbook, extra + more)
            print(f"  {step.label:32} {step.seconds:7.1f} s  changed={step.changed}", flush=True)
            if step.returncode != 0:
                print(step.output[-6000:], file=sys.stderr)
                print(f"{step.label} failed (exit {step.returncode})", file=sys.stderr)
                return 1
            uri = image_uri(step.output) or uri
            if step.label.startswith("push again") and uri:
                sizes = (image_size(uri), compressed_size(uri))
    print(f"\nimage: {uri}")
    if sizes:
        print(f"size: {sizes[0] / 1e6:.0f} MB, compressed in the registry: {sizes[1] / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
