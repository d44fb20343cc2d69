"""Filter plugin formatting: one line for each entry of a list (predict.yml's top labels)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import formatting

format_each = formatting.FilterModule().filters()["format_each"]

TOP = [
    {"label": "tabby, tabby cat", "probability": 0.61234, "index": 281},
    {"label": "Egyptian cat", "probability": 0.2, "index": 285},
]


def test_each_entry_fills_the_format_with_its_attributes_in_order():
    assert format_each(TOP, "%.3f  %s", "probability", "label") == [
        "0.612  tabby, tabby cat",
        "0.200  Egyptian cat",
    ]
    assert format_each(TOP, "%s (%d)", "label", "index") == [
        "tabby, tabby cat (281)",
        "Egyptian cat (285)",
    ]
    assert format_each([], "%s", "label") == []


@pytest.mark.parametrize(
    ("entries", "template", "attributes", "message"),
    [
        ("x", "%s", ("label",), "not a list of mappings"),
        ([{"label": "a"}], "%.3f  %s", ("probability", "label"), "without probability, label"),
        (["a"], "%s", ("label",), "without label"),
        ([{"label": "a"}], "%.3f", ("label",), "with"),
        ([{"label": "a"}], "%s %s", ("label",), "with"),
    ],
)
def test_what_cannot_be_formatted_is_refused(entries, template, attributes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        format_each(entries, template, *attributes)
