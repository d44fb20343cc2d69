"""Filter plugin downloads: the model files the models role cannot download, one line each
(roles/models/tasks/download.yml reports them, joined, as a warning)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import downloads

filters = downloads.FilterModule().filters()
unreachable_downloads = filters["unreachable_downloads"]
failed_downloads = filters["failed_downloads"]

URL = "https://example.com/models/mobilenet.tflite"
LABELS = "https://example.com/models/labels.txt"


def result(source: str, **fields) -> dict:
    return {"item": {"name": source.rsplit("/", 1)[-1], "source": source, "sha256": ""}, **fields}


def test_files_that_answer_are_reachable():
    heads = [
        result(URL, status=200, content_length="3400000"),
        result(LABELS, status=403),
        result(LABELS, status=405, msg="Status code was 405 and not [200]: HTTP Error 405"),
    ]
    assert unreachable_downloads(heads) == []


@pytest.mark.parametrize(
    ("head", "line"),
    [
        (result(URL, status=404, msg="Status code was 404 and not [200]: HTTP Error 404"),
         f"cannot download {URL} (Status code was 404 and not [200]: HTTP Error 404)"),
        (result(URL, status=-1, msg="Status code was -1 and not [200]: Request failed: <urlopen "
                                    "error [Errno -2] Name or service not known>"),
         f"cannot download {URL} (Request failed: <urlopen error [Errno -2] Name or service not "
         "known>)"),
        (result(URL, status=410), f"cannot download {URL} (HTTP 410)"),
        (result(URL, status="404"), f"cannot download {URL} (HTTP 404)"),
    ],
)  # fmt: skip
def test_a_file_that_is_surely_not_there_is_one_line(head, line):
    assert unreachable_downloads([head, result(LABELS, status=200)]) == [line]


def test_every_unreachable_file_is_named_in_order():
    heads = [result(URL, status=-1, msg="Status code was -1 and not [200]: timed out"),
             result(LABELS, status=404)]  # fmt: skip
    assert unreachable_downloads(heads) == [
        f"cannot download {URL} (timed out)",
        f"cannot download {LABELS} (HTTP 404)",
    ]


def test_failed_downloads_name_get_urls_message_or_failed():
    got = [
        result(URL, failed=True, msg="Request failed: <urlopen error timed out>"),
        result(LABELS, failed=True),
        result(LABELS, failed=False, msg="OK (12 bytes)"),
        result(URL, skipped=True, changed=False),
    ]
    assert failed_downloads(got) == [
        f"cannot download {URL} (Request failed: <urlopen error timed out>)",
        f"cannot download {LABELS} (failed)",
    ]
    assert failed_downloads([]) == []


@pytest.mark.parametrize("function", [unreachable_downloads, failed_downloads])
@pytest.mark.parametrize(
    ("results", "message"),
    [("x", "not a list of loop results"), ([{"status": 404}], "without item.source"),
     ([{"item": "x", "status": 404}], "without item.source")],
)  # fmt: skip
def test_what_is_not_a_loop_of_downloads_is_refused(function, results, message):
    with pytest.raises(AnsibleFilterError, match=message):
        function(results)
