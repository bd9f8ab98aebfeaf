"""Keptn's payload merge (shipyard-controller `internal/common/utils.go: Merge`), with one bug fixed.

The shipyard-controller builds every task `.triggered` payload, and the payload of a follow-up sequence, by
merging JSON documents: the sequence's input, then the `.finished` data of each completed task. The rules,
for `merge(old, new)` on JSON values:

* maps are merged recursively: keys only in `new` are added; a key whose old value is null takes the new
  value as is; otherwise the two values are merged by these rules;
* strings: the new value wins; a new **null** gives `""` (Go decodes the nil into a zero string - kept);
* lists: `new + old` - the new items first (keptn/keptn#7627); a new null keeps the old list;
* an old null takes the new value;
* when old and new have different types the new value wins (e.g. a map replaced by a string);
* a new null never removes an old map or list.

Deliberate deviation: **numbers and booleans take the new value.** Keptn's type switch had no case for them,
so the OLD value was kept - whatever the new value was, even a string or a map. That froze values such as
remediation's `get-action.actionIndex` at the first value ever written. Here a number or boolean is
replaced by any non-null new value; a new null keeps it (as for maps and lists: null carries no information).

Unlike Go, which mutates the first argument, `merge` never modifies its arguments and never returns objects
shared with them, so callers may keep both inputs (workflow state must not change behind their back).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def merge(old: Any, new: Any) -> Any:
    """Merge JSON value `new` into JSON value `old` by Keptn's rules (see the module docstring)."""
    if isinstance(old, Mapping):
        if isinstance(new, Mapping):
            return merge_maps(old, new)
        return copy.deepcopy(old) if new is None else copy.deepcopy(new)
    if isinstance(old, list):
        if isinstance(new, list):
            return copy.deepcopy(new) + copy.deepcopy(old)
        return copy.deepcopy(old) if new is None else copy.deepcopy(new)
    if isinstance(old, str):
        # Go: `in2String, _ := in2.(string)` turns a nil into "" - Keptn's behaviour, kept.
        return "" if new is None else copy.deepcopy(new)
    if old is None:
        return copy.deepcopy(new)
    # Numbers, booleans (and anything else): the fixed rule - new wins unless it is null.
    return copy.deepcopy(old) if new is None else copy.deepcopy(new)


def merge_maps(old: Mapping[str, Any], new: Mapping[str, Any] | None) -> dict[str, Any]:
    """A new dict: `old` with every key of `new` merged in (Go `mergeMaps`). `new=None` copies `old`."""
    out: dict[str, Any] = copy.deepcopy(dict(old))
    for key, new_value in (new or {}).items():
        old_value = out.get(key)
        out[key] = copy.deepcopy(new_value) if old_value is None else merge(old_value, new_value)
    return out
