"""A YAML loader that reads scalars the way Keptn's Go code (gopkg.in/yaml.v3) does.

PyYAML implements YAML 1.1: `yes`/`no`/`on`/`off` become booleans, `1:30` becomes 5400 and `2021-01-01`
a date. yaml.v3 keeps all of those as strings when decoding into untyped values (shipyard task
`properties`), so a shipyard means the same here as on Keptn, and properties stay JSON-serialisable.
Duplicate mapping keys are an error, as in yaml.v3 (PyYAML silently keeps the last one).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_REPLACED = {_BOOL_TAG, _INT_TAG, _FLOAT_TAG, _TIMESTAMP_TAG}


class GoYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and duplicate-key detection."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise ConstructorError(
                        None,
                        None,
                        f'mapping key "{key}" already defined at line {seen[key].start_mark.line + 1}',
                        key_node.start_mark,
                    )
                seen[key] = key_node
            except TypeError:
                pass  # unhashable keys are reported by SafeLoader itself
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = self.construct_scalar(node)
        return int(text, 0) if text[:2] in ("0x", "0o") else int(text, 10)


GoYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GoYamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
GoYamlLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$"), list("-+0123456789")
)
GoYamlLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
GoYamlLoader.add_constructor(_INT_TAG, GoYamlLoader.construct_yaml_int)
# PyYAML's bool constructor looks values up in a YAML 1.1 table that has true/false in every casing we allow.


def load_first_document(text: str) -> Any:
    """The first YAML document of `text`, None if there is none (yaml.v3's Unmarshal also reads only the
    first document). Raises yaml.YAMLError."""
    documents = yaml.load_all(text, Loader=GoYamlLoader)
    try:
        return next(documents, None)
    finally:
        documents.close()
