"""Typed benchmark options: each kind's options are a frozen dataclass whose fields carry their bounds.

    @dataclass(frozen=True)
    class MyOptions:
        bootstrap: int = option(1000, ge=0, le=100_000, help="bootstrap resamples of the 95% interval")

    parse_options(MyOptions, {"bootstrap": 50}, where="benchmark 'x'")   # -> MyOptions(bootstrap=50)
    options_json_schema(MyOptions)                                          # -> the JSON schema the API shows

`parse_options` is the one place that checks options (unknown names, types, bounds, choices); the CLI, the
library and the service all go through it, and the API's request schema is generated from the same fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from evaluation.errors import BenchmarkError

T = TypeVar("T")


def option(
    default: Any,
    *,
    ge: int | None = None,
    le: int | None = None,
    choices: tuple[str, ...] | None = None,
    max_length: int | None = None,
    help: str = "",
) -> Any:
    """A dataclass field with its default and bounds: `ge`/`le` for integers, `choices` or `max_length` (and
    a minimum length of 1) for strings. `help` is the description shown in the API schema."""
    meta = {"ge": ge, "le": le, "choices": choices, "max_length": max_length, "help": help}
    return dataclasses.field(default=default, metadata=meta)


def _base_type(cls: type, field: dataclasses.Field[Any]) -> tuple[type, bool]:
    """(int or str, whether None is allowed) of a field annotated `int`, `str` or `str | None`."""
    hint = typing.get_type_hints(cls)[field.name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    base = [a for a in args if a is not type(None)]
    if len(base) != 1 or base[0] not in (int, str):
        raise TypeError(f"{cls.__name__}.{field.name}: options are int, str or str | None, got {hint}")
    return base[0], type(None) in args


def _check(where: str, name: str, value: Any, kind: type, nullable: bool, meta: Mapping[str, Any]) -> None:
    if value is None and nullable:
        return
    if kind is int:
        low, high = meta["ge"], meta["le"]
        bounds = " and ".join(
            part
            for part in (f">= {low}" if low is not None else "", f"<= {high}" if high is not None else "")
            if part
        )
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise BenchmarkError(f"{where}: {name} must be an integer {bounds}".rstrip())
        return
    choices, longest = meta["choices"], meta["max_length"]
    if choices is not None:
        if value not in choices:
            raise BenchmarkError(f"{where}: {name} must be one of {choices}")
        return
    if not isinstance(value, str) or not value or (longest is not None and len(value) > longest):
        raise BenchmarkError(f"{where}: {name} must be a non-empty string of at most {longest} characters")


def parse_options(cls: type[T], raw: Mapping[str, Any] | T, *, where: str, kind: str) -> T:
    """`cls(**raw)` after checking every name and value against the fields' types and bounds; BenchmarkError
    (prefixed with `where`) names the first problem."""
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, Mapping):
        raise BenchmarkError(f"{where}: options must be an object, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise BenchmarkError(
            f"{where}: unknown option(s) {unknown} for kind {kind!r} (known: {sorted(fields)})"
        )
    for name, value in raw.items():
        base, nullable = _base_type(cls, fields[name])
        _check(where, name, value, base, nullable, fields[name].metadata)
    return cls(**raw)


def options_json_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of one kind's options object: every field with its type, default, bounds and help."""
    properties: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        base, nullable = _base_type(cls, field)
        meta = field.metadata
        prop: dict[str, Any] = {"type": "integer" if base is int else "string"}
        if meta["ge"] is not None:
            prop["minimum"] = meta["ge"]
        if meta["le"] is not None:
            prop["maximum"] = meta["le"]
        if meta["choices"] is not None:
            prop["enum"] = list(meta["choices"])
        elif base is str:
            prop["minLength"] = 1
            if meta["max_length"] is not None:
                prop["maxLength"] = meta["max_length"]
        if nullable:
            prop = {"anyOf": [prop, {"type": "null"}]}
        prop["default"] = field.default
        if meta["help"]:
            prop["description"] = meta["help"]
        properties[field.name] = prop
    return {"type": "object", "properties": properties, "additionalProperties": False}
