"""keptn.merge: Keptn's TestMerge (shipyard-controller internal/common/utils_test.go) plus our number/bool fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from keptn.merge import merge, merge_maps

# (name, old, new, want) - the cases of Keptn's TestMerge, verbatim.
KEPTN_CASES: list[tuple[str, Any, Any, Any]] = [
    ("merge maps", {"foo": "bar"}, {"bar": "foo"}, {"foo": "bar", "bar": "foo"}),
    ("string property of in2 overrides in1", {"foo": "bar"}, {"foo": "foo"}, {"foo": "foo"}),
    (
        "merge different structures",
        {"foo": "bar"},
        {"bar": {"bar": "foo"}},
        {"foo": "bar", "bar": {"bar": "foo"}},
    ),
    ("merge different structures 2", ["item1", "item2"], ["item3"], ["item3", "item1", "item2"]),
    (
        "merge different structures 3",
        ["item1", {"x": "y", "b": [1, "b", ["hello"]]}],
        ["item3"],
        ["item3", "item1", {"x": "y", "b": [1, "b", ["hello"]]}],
    ),
    ("map vs string", {"foo": {"bar": "xyz"}}, {"foo": "bar"}, {"foo": "bar"}),
    ("slice vs string", {"foo": ["bar"]}, {"foo": "bar"}, {"foo": "bar"}),
    ("string vs slice", {"foo": "bar"}, {"foo": ["bar"]}, {"foo": ["bar"]}),
    ("nil vs map", None, {"foo": {"bar": "xyz"}}, {"foo": {"bar": "xyz"}}),
    ("nil vs string", None, "foo", "foo"),
]


@pytest.mark.parametrize(
    ("old", "new", "want"), [c[1:] for c in KEPTN_CASES], ids=[c[0] for c in KEPTN_CASES]
)
def test_keptn_merge_cases(old: Any, new: Any, want: Any) -> None:
    assert merge(old, new) == want


# Keptn kept the OLD number/bool (no case in its type switch); we take the new value.
FIXED_CASES: list[tuple[str, Any, Any, Any]] = [
    (
        "actionIndex advances",
        {"get-action": {"actionIndex": 0}},
        {"get-action": {"actionIndex": 1}},
        {"get-action": {"actionIndex": 1}},
    ),
    ("float", {"score": 50.5}, {"score": 90.0}, {"score": 90.0}),
    ("bool", {"enabled": True}, {"enabled": False}, {"enabled": False}),
    ("number replaced by string", {"x": 1}, {"x": "one"}, {"x": "one"}),
    ("bool replaced by map", {"x": False}, {"x": {"a": "b"}}, {"x": {"a": "b"}}),
    ("null keeps number", {"x": 3}, {"x": None}, {"x": 3}),
    ("null keeps bool", {"x": False}, {"x": None}, {"x": False}),
    ("top-level number", 1, 2, 2),
]


@pytest.mark.parametrize(
    ("old", "new", "want"), [c[1:] for c in FIXED_CASES], ids=[c[0] for c in FIXED_CASES]
)
def test_numbers_and_booleans_take_the_new_value(old: Any, new: Any, want: Any) -> None:
    assert merge(old, new) == want


def test_null_handling_follows_keptn() -> None:
    # A null never removes a map or list; a null string becomes "" (Go's zero value); an old null is replaced.
    assert merge({"m": {"a": "b"}, "l": [1], "s": "x"}, {"m": None, "l": None, "s": None}) == {
        "m": {"a": "b"},
        "l": [1],
        "s": "",
    }
    assert merge({"a": None}, {"a": [1]}) == {"a": [1]}
    assert merge({"a": None}, {"a": None}) == {"a": None}
    assert merge(None, None) is None
    assert merge({"a": "b"}, None) == {"a": "b"}


def test_nested_maps_merge_recursively_and_lists_prepend() -> None:
    old = {"deployment": {"uris": ["old"], "strategy": "direct", "meta": {"a": "1"}}}
    new = {"deployment": {"uris": ["new"], "meta": {"b": "2"}}}
    assert merge(old, new) == {
        "deployment": {"uris": ["new", "old"], "strategy": "direct", "meta": {"a": "1", "b": "2"}}
    }


def test_inputs_are_not_modified_nor_shared() -> None:
    old = {"a": {"b": ["x"]}, "c": "d"}
    new = {"a": {"b": ["y"], "e": {"f": "g"}}}
    old_copy, new_copy = copy.deepcopy(old), copy.deepcopy(new)
    out = merge(old, new)
    assert old == old_copy and new == new_copy
    out["a"]["e"]["f"] = "changed"
    out["a"]["b"].append("z")
    assert old == old_copy and new == new_copy


def test_merge_maps_accepts_none() -> None:
    src = {"a": {"b": "c"}}
    out = merge_maps(src, None)
    assert out == src and out is not src and out["a"] is not src["a"]
