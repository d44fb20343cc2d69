"""docs/ARCHITECTURE.md's generated section is what scripts/role_graph.py prints today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_role_graph():
    spec = importlib.util.spec_from_file_location("role_graph", ROOT / "scripts" / "role_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_section_is_current() -> None:
    role_graph = load_role_graph()
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split(role_graph.BEGIN, 1)[1].split(role_graph.END, 1)[0].strip()
    assert section == role_graph.render(), (
        "docs/ARCHITECTURE.md is stale: python3 scripts/role_graph.py --write"
    )


def test_every_role_of_site_yml_is_in_the_picture() -> None:
    role_graph = load_role_graph()
    listed = "\n".join(role_graph.plays("playbooks/site.yml"))
    for role in (
        "preflight",
        "keypair",
        "network",
        "iam",
        "storage",
        "secrets",
        "models",
        "registry",
        "cluster",
        "spot_fleet",
        "image_build",
        "image_push",
        "task_definitions",
        "jupyter_service",
        "outputs",
    ):
        assert f"- {role}" in listed


def test_an_edge_is_found_where_a_role_reads_another_roles_variable(tmp_path, monkeypatch) -> None:
    role_graph = load_role_graph()
    for role, text in {"alpha": "x: '{{ beta_out }}'\n", "beta": "beta_out: 1\n"}.items():
        (tmp_path / "roles" / role / "defaults").mkdir(parents=True)
        (tmp_path / "roles" / role / "defaults" / "main.yml").write_text(text)
    monkeypatch.setattr(role_graph, "ROOT", tmp_path)
    assert [line.split() for line in role_graph.edges()] == [["beta", "->", "alpha", "beta_out"]]
