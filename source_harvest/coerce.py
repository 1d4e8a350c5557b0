"""Odd data made schema-valid: numbers or booleans sent as strings, empty strings where a number belongs.

The CDK's TypeTransformer does this for any schema but walks every field (~250 µs a record). Here each
stream's schema is compiled once into straight-line code that looks only at its number/integer/boolean
fields and converts a value only when it arrived as a string (a couple of µs a record).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}
TARGETS = ("integer", "number", "boolean")


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type", [])
    return set([kind] if isinstance(kind, str) else kind)


def convert(value: str, target: str) -> Any:
    """A string where the schema wants `target`: the number or boolean it spells, None if empty, else as is."""
    text = value.strip()
    if text == "":
        return None
    if target == "boolean":
        lowered = text.lower()
        return True if lowered in TRUE_WORDS else False if lowered in FALSE_WORDS else value
    try:
        number = float(text)
    except ValueError:
        return value  # left as is: validation will name it
    if target == "integer" or "." not in text:
        return int(number) if number.is_integer() else number
    return number


def _emit(schema: Mapping[str, Any], node: str, depth: int, lines: list[str]) -> None:
    indent = "    " * depth
    for index, (name, field) in enumerate(sorted((schema.get("properties") or {}).items())):
        kinds = _types(field)
        value = f"v{depth}_{index}"
        key = repr(name)
        if "object" in kinds and field.get("properties"):
            body: list[str] = []
            _emit(field, value, depth + 1, body)
            if body:
                lines += [f"{indent}{value} = {node}.get({key})", f"{indent}if {value}.__class__ is dict:", *body]
        elif "array" in kinds and isinstance(field.get("items"), Mapping) and "object" in _types(field["items"]):
            item = f"i{depth}_{index}"
            body = []
            _emit(field["items"], item, depth + 2, body)
            if body:
                lines += [f"{indent}{value} = {node}.get({key})", f"{indent}if {value}.__class__ is list:",
                          f"{indent}    for {item} in {value}:", f"{indent}        if {item}.__class__ is dict:",
                          *["    " + line for line in body]]
        else:
            target = next((t for t in TARGETS if t in kinds), None)
            if target:
                lines += [f"{indent}{value} = {node}.get({key})",
                          f"{indent}if {value}.__class__ is str:", f"{indent}    {node}[{key}] = convert({value}, {target!r})"]


def compile_coercer(schema: Mapping[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    body: list[str] = []
    _emit(schema, "record", 1, body)
    source = "\n".join(["def coerce(record):", *body, "    return record"])
    namespace: dict[str, Any] = {"convert": convert}
    exec(compile(source, "<coercer>", "exec"), namespace)  # noqa: S102 - code generated from our own schema files
    return namespace["coerce"]


class Coercer:
    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._coerce = compile_coercer(schema)

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        return self._coerce(record)
