"""Event handlers: their signatures are read once, at registration, never guessed at call time.

A handler receives the event's arguments positionally. Extra arguments beyond what it accepts are
dropped and missing ones are passed as ``None`` (a JavaScript peer may send any number). A handler
with a keyword-only parameter named ``ack`` gets the acknowledgement callback; otherwise its return
value (``None`` for none, a tuple for several values) answers the peer's acknowledgement.

A parameter annotated with a model (a pydantic model, a dataclass or a TypedDict; see
:mod:`socketeer.sio.typed`) receives the argument validated and converted; :meth:`HandlerSpec.adapt`
raises :class:`~socketeer.exceptions.InvalidPayload` when it does not fit. Handlers without such
annotations take the same path as before: ``exact`` lets the caller skip ``adapt`` altogether.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .typed import Converter, payload_converter

__all__ = ["Handler", "HandlerSpec", "inspect_handler"]

Handler = Callable[..., Any]


class HandlerSpec:
    """A handler and what it accepts. ``fixed`` leading parameters are supplied by socketeer."""

    __slots__ = ("converters", "exact", "fn", "is_async", "max_args", "min_args", "name", "once", "wants_ack")

    def __init__(self, fn: Handler, fixed: int = 0, *, once: bool = False) -> None:
        self.once = once
        if not callable(fn):
            raise TypeError(f"handler must be callable, got {fn!r}")
        self.fn = fn
        self.name = getattr(fn, "__qualname__", repr(fn))
        target = fn
        if not inspect.isfunction(fn) and not inspect.ismethod(fn) and hasattr(fn, "__call__"):  # noqa: B004
            call = type(fn).__call__
            if inspect.iscoroutinefunction(call):
                target = fn.__call__
        self.is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(fn)
        self.converters: tuple[tuple[int, Converter], ...] | None = None
        self.exact = -1  # when the peer sent exactly this many arguments, they go to the handler as is
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            self.min_args: int = 0
            self.max_args: int | None = None
            self.wants_ack = False
            return
        positional = 0
        required = 0
        varargs = False
        wants_ack = False
        converters: list[tuple[int, Converter]] = []
        for param in sig.parameters.values():
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                if positional >= fixed and param.annotation is not param.empty:
                    convert = payload_converter(_resolve(fn, param.annotation), param.name, fn)
                    if convert is not None:
                        converters.append((positional - fixed, convert))
                positional += 1
                if param.default is param.empty:
                    required += 1
            elif param.kind is param.VAR_POSITIONAL:
                varargs = True
            elif param.kind is param.KEYWORD_ONLY:
                if param.name == "ack":
                    wants_ack = True
                elif param.default is param.empty:
                    raise TypeError(
                        f"handler {self.name} has a required keyword-only parameter {param.name!r}"
                    )
        if positional < fixed and not varargs:
            raise TypeError(f"handler {self.name} must accept at least {fixed} positional argument(s)")
        self.min_args = max(required - fixed, 0)
        self.max_args = None if varargs else positional - fixed
        self.wants_ack = wants_ack
        if converters:
            self.converters = tuple(converters)
        elif self.max_args is not None:
            self.exact = self.max_args

    def adapt(self, args: list[Any]) -> list[Any]:
        """Fit the peer's arguments to what the handler accepts, converting the typed ones.

        Raises :class:`~socketeer.exceptions.InvalidPayload` when a typed argument does not fit.
        """
        max_args = self.max_args
        if max_args is not None and len(args) > max_args:
            args = args[:max_args]
        elif len(args) < self.min_args:
            args = args + [None] * (self.min_args - len(args))
        converters = self.converters
        if converters is not None:
            args = list(args)
            count = len(args)
            for index, convert in converters:
                if index < count:
                    args[index] = convert(args[index])
        return args


def _resolve(fn: Any, annotation: Any) -> Any:
    """An annotation as a type: strings (``from __future__ import annotations``) are evaluated in the
    handler's module; one that cannot be (a name imported only for type checkers) is ``None``."""
    if not isinstance(annotation, str):
        return annotation
    target = inspect.unwrap(getattr(fn, "__func__", fn))
    if not hasattr(target, "__globals__"):
        target = getattr(type(fn), "__call__", None)  # noqa: B004
    namespace = getattr(target, "__globals__", None)
    if namespace is None:
        return None
    try:
        return eval(annotation, namespace)  # what typing.get_type_hints does for each annotation
    except Exception:
        return None


def inspect_handler(fn: Handler, fixed: int = 0) -> HandlerSpec:
    return HandlerSpec(fn, fixed)
