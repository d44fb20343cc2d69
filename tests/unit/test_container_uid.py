"""The containers' uid is one number in every place that names it (issue 15 item 2): the image's
jovyan (docker/Dockerfile ECSDL_UID), the task definitions' user, and the uid the instances' user
data keeps off the instance metadata service. A uid no account of a usual host has: 61000."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import CONTAINER_UID

REPO = Path(__file__).resolve().parents[2]


def test_the_image_the_definitions_and_the_user_data_name_one_uid() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    image_uid = re.search(r"^ARG ECSDL_UID=(\d+)$", dockerfile, re.MULTILINE)
    assert image_uid and image_uid.group(1) == CONTAINER_UID
    assert "USER ${ECSDL_UID}:${ECSDL_UID}" in dockerfile

    definitions = yaml.safe_load((REPO / "roles/task_definitions/defaults/main.yml").read_text())
    assert str(definitions["task_definitions_user"]) == CONTAINER_UID

    # site.yml gives spot_fleet the uid in a play before task_definitions is in scope: its
    # fallback must be the same uid
    site = (REPO / "playbooks/site.yml").read_text()
    fallback = re.search(
        r"_site_container_uid: .*task_definitions_user \| default\('(\d+)'\)", site
    )
    assert fallback and fallback.group(1) == CONTAINER_UID, site
    assert int(CONTAINER_UID) > 60000  # above the UID_MAX of Debian's accounts
