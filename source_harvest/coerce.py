"""Odd data made schema-valid: numbers or booleans sent as strings, empty strings where a number belongs.

The CDK's TypeTransformer does this for any schema but walks every field (~250 µs a record);
this walks only the number/integer/boolean leaves of one stream's schema, compiled once.
"""

from __future__ import annotations

from typing import Any, Mapping

Leaf = tuple[tuple[str, ...], str]  # (path, JSON type); "*" in a path steps into every array item
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type", [])
    return set([kind] if isinstance(kind, str) else kind)


def compile_leaves(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[Leaf]:
    leaves: list[Leaf] = []
    for name, node in (schema.get("properties") or {}).items():
        kinds = _types(node)
        path = (*prefix, name)
        if "object" in kinds:
            leaves += compile_leaves(node, path)
        elif "array" in kinds and isinstance(node.get("items"), Mapping):
            items = node["items"]
            if "object" in _types(items):
                leaves += compile_leaves(items, (*path, "*"))
        else:
            for target in ("integer", "number", "boolean"):
                if target in kinds:
                    leaves.append((path, target))
                    break
    return leaves


def _convert(value: str, target: str) -> Any:
    text = value.strip()
    if text == "":
        return None
    try:
        if target == "integer":
            number = float(text)
            return int(number) if number.is_integer() else number
        if target == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
    except ValueError:
        return value  # left as is: validation will name it
    lowered = text.lower()
    return True if lowered in TRUE_WORDS else False if lowered in FALSE_WORDS else value


class Coercer:
    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._leaves = compile_leaves(schema)

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        for path, target in self._leaves:
            self._visit(record, path, 0, target)
        return record

    def _visit(self, node: Any, path: tuple[str, ...], depth: int, target: str) -> None:
        key = path[depth]
        if key == "*":
            if isinstance(node, list):
                for item in node:
                    self._visit(item, path, depth + 1, target)
            return
        if not isinstance(node, dict):
            return
        value = node.get(key)
        if depth == len(path) - 1:
            if value.__class__ is str:
                node[key] = _convert(value, target)
        elif value is not None:
            self._visit(value, path, depth + 1, target)
