"""Each role's inputs are its own prefixed variables, given at the import site (issue 16 item 4).

A role reads no variable of another role (the playbooks wire them: `vars:` on import_role),
reads no fact of localhost through hostvars, and reports what it made in one fact of its own,
<role>_outputs, which site.yml hands to the outputs role. A default is stated once: in the
role's defaults/main.yml, never again in its argument_specs.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


def role_files(role: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / "roles" / role).rglob("*"))
        if path.is_file() and path.suffix in (".yml", ".j2")
    ]


def load_role_graph():
    spec = importlib.util.spec_from_file_location("role_graph", ROOT / "scripts" / "role_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_role_reads_another_roles_variables() -> None:
    # The one exception: models includes run_task and reads its documented result.
    edges = [" ".join(line.split()) for line in load_role_graph().edges()]
    assert edges == ["run_task -> models run_task_log"]


def test_the_edge_finder_sees_a_read_in_an_expression_and_not_in_prose(tmp_path: Path) -> None:
    role_graph = load_role_graph()
    tasks = tmp_path / "main.yml"
    tasks.write_text(
        "# network_vpc_cidr in a comment\n"
        "- name: A task about keypair_name\n"
        "  ansible.builtin.debug:\n"
        "    msg: 'cluster {{ cluster_name }}'\n"
        "  when: storage_bucket_names | length > 0\n"
    )
    found = "\n".join(role_graph.expressions(tasks))
    assert "cluster_name" in found and "storage_bucket_names" in found
    assert "network_vpc_cidr" not in found and "keypair_name" not in found


def test_no_role_reads_localhost_facts_or_a_shared_outputs_fact() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for role in ROLES
        for path in role_files(role)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "hostvars['localhost']" in line or "deployment_outputs" in line
    ]
    # image_push delegates its facts to localhost (where the later plays run) and reads its own back
    allowed = {"image_push_image_uri"}
    offenders = [
        o
        for o in offenders
        if not any(
            name in (ROOT / o.split(":")[0]).read_text().splitlines()[int(o.split(":")[1]) - 1]
            for name in allowed
        )
    ]
    assert offenders == []


def test_every_roles_outputs_fact_reaches_the_outputs_role() -> None:
    reported = set()
    for role in ROLES:
        for path in role_files(role):
            if re.search(rf"^\s+{role}_outputs:", path.read_text(), re.MULTILINE):
                reported.add(role)
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    parts = next(
        task["vars"]["outputs_parts"]
        for play in site
        for task in play.get("tasks", [])
        if (task.get("ansible.builtin.import_role") or {}).get("name") == "outputs"
    )
    given = {re.search(r"{{ (\w+)_outputs\b", part).group(1) for part in parts}
    assert reported == given
    assert len(reported) >= 13


def test_argument_specs_state_no_default_and_every_input_has_one_source() -> None:
    problems = []
    for spec_path in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        role = spec_path.parts[-3]
        defaults_path = ROOT / "roles" / role / "defaults" / "main.yml"
        defaults = yaml.safe_load(defaults_path.read_text()) if defaults_path.exists() else {}
        for entry, body in yaml.safe_load(spec_path.read_text())["argument_specs"].items():
            for name, option in (body.get("options") or {}).items():
                if "default" in option:
                    problems.append(f"{role}:{entry}:{name} states a default")
                wired = re.search(r"(site|teardown)\.yml gives", str(option.get("description", "")))
                if name not in (defaults or {}) and not option.get("required") and not wired:
                    problems.append(f"{role}:{entry}:{name} has no default and is not given")
    assert problems == []


def test_the_fleets_instance_types_are_written_once() -> None:
    places = [
        str(path.relative_to(ROOT))
        for top in ("roles", "playbooks", "inventory")
        for path in sorted((ROOT / top).rglob("*"))
        if path.is_file() and path.suffix in (".yml", ".j2") and "m5a.large" in path.read_text()
    ]
    assert places == ["roles/spot_fleet/defaults/main.yml"]
