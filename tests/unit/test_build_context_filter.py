"""Filter plugin build_context: the image build's files (copied to the instance and hashed into
the content version), from an ansible.builtin.find of the context."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import build_context

build_context_files = build_context.FilterModule().filters()["build_context_files"]

CONTEXT = "/src/docker"
# The role's defaults (roles/image_build/defaults/main.yml).
EXCLUDE_DIRS = [
    "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".ipynb_checkpoints",
    ".git", ".venv", ".tox", "*.egg-info",
]  # fmt: skip
EXCLUDE_PATHS = ["certs/*.crt"]


def found(*paths: str, xusr: bool = False) -> list[dict]:
    return [
        {"path": f"{CONTEXT}/{path}", "checksum": f"sum-of-{path}", "xusr": xusr, "mode": "0644"}
        for path in paths
    ]


def paths(files: list[dict]) -> list[str]:
    return [f["path"] for f in files]


def test_files_relative_to_the_context_with_sha256_and_x_bit():
    files = build_context_files(
        found("Dockerfile") + found("entrypoint.sh", xusr=True),
        CONTEXT,
        EXCLUDE_DIRS,
        EXCLUDE_PATHS,
    )
    assert files == [
        {"path": "Dockerfile", "sha256": "sum-of-Dockerfile", "exec": False},
        {"path": "entrypoint.sh", "sha256": "sum-of-entrypoint.sh", "exec": True},
    ]


def test_files_under_an_excluded_folder_at_any_depth_are_left_out():
    files = build_context_files(
        found(
            "ecsdl/src/ecsdl/model.py",
            "ecsdl/src/ecsdl/__pycache__/model.txt",
            "__pycache__/x",
            ".git/HEAD",
            "ecsdl/src/ecsdl.egg-info/PKG-INFO",
            "a/b/.venv/c/d.py",
            "notebooks/.ipynb_checkpoints/train-checkpoint.ipynb",
            "notebooks/train.ipynb",
        ),
        CONTEXT,
        EXCLUDE_DIRS,
        EXCLUDE_PATHS,
    )
    assert paths(files) == ["ecsdl/src/ecsdl/model.py", "notebooks/train.ipynb"]


def test_a_folder_pattern_names_folders_not_files_and_matches_the_whole_name():
    files = build_context_files(
        found("__pycache__", ".git", "x.egg-info", "my__pycache__/a", "__pycache__x/a", "a.gitx/b"),
        CONTEXT,
        EXCLUDE_DIRS,
        EXCLUDE_PATHS,
    )
    assert paths(files) == [
        ".git", "__pycache__", "__pycache__x/a", "a.gitx/b", "my__pycache__/a", "x.egg-info"
    ]  # fmt: skip


def test_a_path_pattern_star_stays_within_one_folder():
    files = build_context_files(
        found("certs/a.crt", "certs/README.md", "certs/sub/b.crt", "x/certs/c.crt", "certs/.crt"),
        CONTEXT,
        EXCLUDE_DIRS,
        EXCLUDE_PATHS,
    )
    assert paths(files) == ["certs/README.md", "certs/sub/b.crt", "x/certs/c.crt"]


def test_other_regex_characters_in_patterns_are_literal():
    files = build_context_files(
        found("a+b/x", "aab/x", "v1.0/y", "v1x0/y", "p[1]/z"),
        CONTEXT,
        ["a+b", "v1.0"],
        ["p[1]/*"],
    )
    assert paths(files) == ["aab/x", "v1x0/y"]


def test_sorted_by_path_without_regard_to_case_as_jinja_sort_was():
    # The content version hashes this list: its order is the one earlier versions were made with.
    files = build_context_files(
        found("b.txt", "B/c", "a/Z", "A.txt", "a/x.py", "Dockerfile", "certs/b.pem"), CONTEXT
    )
    assert paths(files) == ["A.txt", "a/x.py", "a/Z", "b.txt", "B/c", "certs/b.pem", "Dockerfile"]


def test_no_patterns_keep_everything_and_the_found_list_is_left_as_it_was():
    entries = found("z", "__pycache__/y")
    before = [dict(e) for e in entries]
    assert paths(build_context_files(entries, CONTEXT, [], [])) == ["__pycache__/y", "z"]
    assert entries == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("not a list", CONTEXT), "not a list of found files"),
        (([{"path": f"{CONTEXT}/a"}], CONTEXT), r"checksum \(get_checksum: true\)"),
        (([], CONTEXT, "__pycache__"), "exclude_dirs is not a list of patterns"),
        (([], CONTEXT, [], [3]), "exclude_paths is not a list of patterns"),
    ],
)
def test_what_is_not_a_find_result_or_patterns_is_refused(arguments, message):
    with pytest.raises(AnsibleFilterError, match=message):
        build_context_files(*arguments)
