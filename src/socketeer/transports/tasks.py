"""Ownership of the tasks that run async handlers: closing the owner cancels them all."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["TaskGroupLite"]

logger = logging.getLogger("socketeer.server")

_EAGER = sys.version_info >= (3, 12)


class TaskGroupLite:
    """Owns the tasks that run async handlers, so that closing the server cancels them all."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(
        self, coro: Coroutine[Any, Any, Any], on_done: Callable[[asyncio.Task[Any]], None] | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        if _EAGER:  # pragma: no cover - depends on the interpreter
            task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
        else:
            task = loop.create_task(coro)
        if task.done():
            if on_done is not None:
                on_done(task)
            else:
                _log_failure(task)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(on_done if on_done is not None else _log_failure)

    async def cancel_all(self, timeout: float | None = None) -> None:
        tasks = list(self._tasks)
        if not tasks:
            return
        if timeout:
            await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error("error in handler task %s", task.get_name(), exc_info=exc)
