"""Acknowledgements, shared by the server and the client: one rule for both sides.

A handler's return value answers the peer's acknowledgement (``None`` for no arguments, a tuple for
several); an acknowledgement received comes back to Python as ``None``, its only value, or a tuple.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..exceptions import InvalidPayload

__all__ = ["AckResponder", "ack_result", "as_ack_args", "reject_payload"]

logger = logging.getLogger("socketeer.sio")


def as_ack_args(result: Any) -> list[Any]:
    """A handler's return value as acknowledgement arguments."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def ack_result(args: list[Any]) -> Any:
    """Acknowledgement arguments as one Python value: ``None``, the only value, or a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


class _FinishedTask(Protocol):
    def cancelled(self) -> bool: ...
    def exception(self) -> BaseException | None: ...
    def result(self) -> Any: ...


class AckResponder:
    """The acknowledgement callback of one received event: it answers at most once.

    ``send(args, ack_id)`` writes the ACK packet; ``where`` (a socket id, say) names it in log lines.
    """

    __slots__ = ("ack_id", "send", "where")

    def __init__(self, send: Callable[[list[Any], int], None], ack_id: int, where: object = "") -> None:
        self.send = send
        self.ack_id: int | None = ack_id
        self.where = where

    def __call__(self, *args: Any) -> None:
        ack_id = self.ack_id
        if ack_id is None:
            return
        self.ack_id = None
        self.send(list(args), ack_id)

    def answer(self, result: Any) -> None:
        """Answer with a handler's return value; an answer that cannot be sent is logged, not raised."""
        try:
            self(*as_ack_args(result))
        except Exception:
            logger.exception("cannot send the acknowledgement (%s)", self.where)

    def from_task(self, task: _FinishedTask) -> None:
        """Done-callback of an async handler's task: answer with its result."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("error in async handler (%s)", self.where, exc_info=exc)
            return
        self.answer(task.result())


def reject_payload(
    error: InvalidPayload,
    event: Any,
    where: object,
    ack: AckResponder | None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = logger,
) -> None:
    """Data that does not fit a typed handler: answer the acknowledgement the peer waits for with
    ``{"message": ..., "data": {"event": ..., "errors": [...]}}``, or log a warning when it waits for none.
    The handler does not run; the connection stays up."""
    if ack is not None and ack.ack_id is not None:
        ack(
            {
                "message": f"invalid payload for {event!r}: {error.message}",
                "data": {"event": event, "errors": error.errors},
            }
        )
    else:
        log.warning("invalid payload for event %r on socket %s: %s", event, where, error.message)
