"""Typed payloads: a handler parameter annotated with a model is validated and converted on arrival.

A *model* is a pydantic v2 ``BaseModel`` (extra ``socketeer[pydantic]``), a dataclass or a
``TypedDict``; an annotation that holds one (``Item``, ``Item | None``, ``list[Item]``) makes the
parameter typed. Other annotations (``str``, ``dict[str, Any]``, none at all) are left alone, so
untyped handlers cost nothing: :func:`payload_converter` returns ``None`` for them, once, at
registration.

Dataclasses and TypedDicts are checked here, without pydantic: JSON types (``str``, ``int``,
``float``, ``bool``, ``None``), ``bytes``, ``list``/``tuple``/``set``/``dict``, unions, ``Literal``,
enums and nested models; keys a model does not declare are ignored. Pydantic models are validated
by pydantic (its default, lax mode). Every failure becomes :class:`~socketeer.exceptions.InvalidPayload`.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union

from ..exceptions import InvalidPayload

__all__ = ["Converter", "is_model_type", "payload_converter"]

Converter = Callable[[Any], Any]
"""Validates one received value and returns it converted; raises ``InvalidPayload``."""

_Loc = tuple[str | int, ...]
_Check = Callable[[Any, _Loc], Any]


class _Invalid(Exception):
    def __init__(self, loc: _Loc, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _pydantic_base() -> type | None:
    module = sys.modules.get("pydantic")
    return getattr(module, "BaseModel", None) if module is not None else None


def _is_pydantic_model(tp: Any) -> bool:
    base = _pydantic_base()
    return base is not None and isinstance(tp, type) and issubclass(tp, base)


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def is_model_type(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic model, a dataclass or a TypedDict class."""
    return (
        (isinstance(tp, type) and dataclasses.is_dataclass(tp)) or _is_typeddict(tp) or _is_pydantic_model(tp)
    )


def _holds_model(tp: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if is_model_type(tp):
        return True
    return any(_holds_model(arg, depth + 1) for arg in typing.get_args(tp) if not isinstance(arg, (str, int)))


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


_LABELS: dict[Any, str] = {
    dict: "object",
    list: "array",
    tuple: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    bytes: "binary",
    type(None): "null",
}


def _kind(value: Any) -> str:
    return _LABELS.get(type(value)) or type(value).__name__


# -- checks built once per annotation ---------------------------------------------------------------


def _build(tp: Any, owner: Any, seen: dict[Any, _Check]) -> _Check:
    if tp is Any or tp is object or isinstance(tp, typing.TypeVar):
        return lambda value, loc: value
    if tp is None or tp is type(None):

        def check_none(value: Any, loc: _Loc) -> Any:
            if value is not None:
                raise _Invalid(loc, f"expected null, got {_kind(value)}")
            return None

        return check_none
    supertype = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return _build(supertype, owner, seen)
    if tp in seen:
        return lambda value, loc: seen[tp](value, loc)  # recursive models
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _build(args[0], owner, seen)
    if origin is Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        return _union([_build(a, owner, seen) for a in args], tp)
    if origin is Literal:
        return _literal(args)
    if origin in (list, Sequence, typing.List) or tp in (list, Sequence):  # noqa: UP006
        return _sequence(_build(args[0], owner, seen) if args else None, list, "array")
    if origin in (set, frozenset) or tp in (set, frozenset):
        return _sequence(_build(args[0], owner, seen) if args else None, origin or tp, "array")
    if origin is tuple or tp is tuple:
        return _tuple(tp, args, owner, seen)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return _mapping(_build(args[1], owner, seen) if len(args) == 2 else None)
    if _is_pydantic_model(tp):
        return _pydantic(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp, seen)
    if _is_typeddict(tp):
        return _typeddict(tp, seen)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    if tp is bool:
        return _exact(bool, "boolean")
    if tp is int:
        return _int
    if tp is float:
        return _float
    if tp is str:
        return _exact(str, "string")
    if tp is bytes:
        return _bytes
    if isinstance(tp, str) or isinstance(tp, typing.ForwardRef):
        raise TypeError(f"cannot resolve the annotation {tp!r} of {_name(owner)}")
    check_type = origin if isinstance(origin, type) else tp
    if isinstance(check_type, type):

        def check_instance(value: Any, loc: _Loc) -> Any:
            if not isinstance(value, check_type):
                raise _Invalid(loc, f"expected {_name(check_type)}, got {_kind(value)}")
            return value

        return check_instance
    return lambda value, loc: value


def _exact(cls: type, label: str) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        if type(value) is not cls and not (isinstance(value, cls) and not isinstance(value, bool)):
            raise _Invalid(loc, f"expected {label}, got {_kind(value)}")
        return value

    return check


def _int(value: Any, loc: _Loc) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Invalid(loc, f"expected integer, got {_kind(value)}")
    return value


def _float(value: Any, loc: _Loc) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(loc, f"expected number, got {_kind(value)}")
    return float(value)


def _bytes(value: Any, loc: _Loc) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _Invalid(loc, f"expected binary, got {_kind(value)}")


def _union(checks: list[_Check], tp: Any) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        failures = []
        for one in checks:
            try:
                return one(value, loc)
            except _Invalid as exc:
                failures.append(exc)
        if len(failures) == 1:
            raise failures[0]
        deepest = max(failures, key=lambda exc: len(exc.loc))
        if len(deepest.loc) > len(loc):
            raise deepest
        raise _Invalid(loc, f"expected {_describe(tp)}, got {_kind(value)}")

    return check


def _describe(tp: Any) -> str:
    args = typing.get_args(tp)
    if args:
        return " or ".join(_LABELS.get(a) or _name(typing.get_origin(a) or a) for a in args)
    return _name(tp)


def _literal(values: tuple[Any, ...]) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        for allowed in values:
            if value == allowed and type(value) is type(allowed):
                return allowed
        raise _Invalid(loc, f"expected one of {list(values)!r}, got {value!r}")

    return check


def _sequence(item: _Check | None, make: Any, label: str) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _Invalid(loc, f"expected {label}, got {_kind(value)}")
        if item is None:
            return make(value)
        return make([item(v, (*loc, i)) for i, v in enumerate(value)])

    return check


def _tuple(tp: Any, args: tuple[Any, ...], owner: Any, seen: dict[Any, _Check]) -> _Check:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return _sequence(_build(args[0], owner, seen) if args else None, tuple, "array")
    items = [_build(a, owner, seen) for a in args]

    def check(value: Any, loc: _Loc) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _Invalid(loc, f"expected array, got {_kind(value)}")
        if len(value) != len(items):
            raise _Invalid(loc, f"expected {len(items)} items, got {len(value)}")
        return tuple(one(v, (*loc, i)) for i, (one, v) in enumerate(zip(items, value, strict=True)))

    return check


def _mapping(item: _Check | None) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(loc, f"expected object, got {_kind(value)}")
        if item is None:
            return value
        return {k: item(v, (*loc, k)) for k, v in value.items()}

    return check


def _enum(cls: type[enum.Enum]) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        try:
            return cls(value)
        except ValueError:
            raise _Invalid(loc, f"expected one of {[m.value for m in cls]!r}, got {value!r}") from None

    return check


def _hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise TypeError(f"cannot resolve the annotations of {_name(cls)}: {exc}") from None


def _dataclass(cls: type, seen: dict[Any, _Check]) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        return fields_check(value, loc)

    seen[cls] = check
    hints = _hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append((f.name, _build(hints.get(f.name, Any), cls, seen), required))

    def fields_check(value: Any, loc: _Loc) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise _Invalid(loc, f"expected object ({cls.__name__}), got {_kind(value)}")
        kwargs = {}
        for name, one, required in fields:
            if name in value:
                kwargs[name] = one(value[name], (*loc, name))
            elif required:
                raise _Invalid((*loc, name), "field required")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:  # a __post_init__ that refuses the values
            raise _Invalid(loc, str(exc)) from None

    return check


def _typeddict(cls: Any, seen: dict[Any, _Check]) -> _Check:
    def check(value: Any, loc: _Loc) -> Any:
        return keys_check(value, loc)

    seen[cls] = check
    hints = _hints(cls)
    required_keys = cls.__required_keys__
    keys = [(name, _build(tp, cls, seen), name in required_keys) for name, tp in hints.items()]

    def keys_check(value: Any, loc: _Loc) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(loc, f"expected object ({cls.__name__}), got {_kind(value)}")
        out = {}
        for name, one, required in keys:
            if name in value:
                out[name] = one(value[name], (*loc, name))
            elif required:
                raise _Invalid((*loc, name), "field required")
        return out

    return check


def _pydantic(cls: Any) -> _Check:
    error_class = sys.modules["pydantic"].ValidationError
    validate = cls.model_validate

    def check(value: Any, loc: _Loc) -> Any:
        try:
            return validate(value)
        except error_class as exc:
            first = exc.errors(include_url=False)[0]
            raise _Invalid((*loc, *first["loc"]), str(first["msg"])) from None

    return check


# -- public entry points ------------------------------------------------------------------------------


def payload_converter(annotation: Any, event_param: str, owner: Any = None) -> Converter | None:
    """The converter of a parameter annotated with ``annotation``, or ``None`` when it holds no model.

    ``event_param`` names the parameter in error messages. Raises ``TypeError`` when a model's own
    annotations cannot be resolved (a registration-time error, never a call-time one).
    """
    if annotation is None or not _holds_model(annotation):
        return None
    check = _build(annotation, owner, {})

    def convert(value: Any) -> Any:
        try:
            return check(value, ())
        except _Invalid as exc:
            where = ".".join(str(p) for p in (event_param, *exc.loc))
            raise InvalidPayload(
                f"{where}: {exc.msg}", [{"loc": [event_param, *exc.loc], "msg": exc.msg}]
            ) from None
        except RecursionError:
            raise InvalidPayload(
                f"{event_param}: nested too deeply", [{"loc": [event_param], "msg": "nested too deeply"}]
            ) from None

    return convert
