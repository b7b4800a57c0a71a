"""One server's connections to Redis, shared by the adapters of all its namespaces (and the emitter).

A :class:`RedisLink` holds the client that publishes and one subscriber connection that a reader task
drains. It keeps what is subscribed (channels, patterns, shard channels) so that after an outage it
subscribes again on a fresh connection. Publications leave in order from one writer task, pipelined.
:class:`ClusterRedisLink` does the same on a Redis Cluster for sharded pub/sub: publications routed by
slot, one subscriber connection per node.

Faults: when Redis cannot be reached, local work goes on; what would be published is dropped (with a
single warning per outage, and one line when the link is back), the reader reconnects with
exponential backoff and jitter, and the adapters are told (``on_outage``) so that requests waiting
for other servers end with the answers received so far. No exception leaves the link's tasks.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AskError, MovedError, SlotNotCoveredError, TryAgainError

__all__ = ["ClusterRedisLink", "MessageHandler", "RedisLink"]

logger = logging.getLogger("socketeer.redis")

MessageHandler = Callable[[bytes, bytes], None]
"""``handler(channel, data)``, called for each message of a subscription."""

_CHANNEL, _PATTERN, _SHARD = "subscribe", "psubscribe", "ssubscribe"
_MAX_QUEUE = 100_000
_BATCH = 512
_READY = b"socketeer-subscribed"


class RedisLink:
    """Publisher and subscriber connections to one Redis server (or Valkey)."""

    def __init__(
        self,
        redis: Redis | str,
        *,
        reconnect_delay: float = 0.05,
        reconnect_max_delay: float = 2.0,
    ) -> None:
        if isinstance(redis, str):
            # one immediate retry (a pooled connection that died with a restart), then fail fast: the
            # link has its own backoff, and a publisher stuck in retries would stall local work
            self.client: Redis = Redis.from_url(redis, retry=Retry(NoBackoff(), 1), socket_connect_timeout=2.0)
            self._owns_client = True
        else:
            if isinstance(redis, RedisCluster) and not isinstance(self, ClusterRedisLink):
                raise TypeError(
                    "a Redis Cluster carries sharded pub/sub only: use it with create_sharded_adapter "
                    "(the classic and streams adapters need one Redis server)"
                )
            self.client = redis
            self._owns_client = False
        if cast(Any, self.client).get_encoder().decode_responses:
            raise ValueError("the Redis client must be created with decode_responses=False")
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self._subs: dict[str, dict[bytes, MessageHandler]] = {_CHANNEL: {}, _PATTERN: {}, _SHARD: {}}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._queue: deque[tuple[bool, bytes, bytes, asyncio.Future[None] | None]] = deque()
        self._wake = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._pongs: dict[bytes, asyncio.Future[None]] = {}
        self._sub_lock = asyncio.Lock()
        self._tokens = 0
        self._users = 0
        self._closed = False
        self.healthy = True
        self._health_changed = asyncio.Event()
        self.outages = 0
        self._outage_listeners: list[Callable[[], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """One more user (an adapter's ``init``); the first starts the tasks."""
        self._users += 1
        self._closed = False
        self._start()

    def _start(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read_loop())
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_loop())

    async def release(self) -> None:
        """One user less; the last one stops the tasks and closes the connections."""
        self._users = max(self._users - 1, 0)
        if self._users == 0:
            await self.close()

    async def close(self) -> None:
        self._closed = True
        await self._flush_queue()
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
        for task in (self._reader, self._writer):
            if task is not None:
                try:
                    await task
                except BaseException:  # noqa: S110 - a cancelled task; any failure was logged by it
                    pass
        self._reader = self._writer = None
        if self._owns_client:
            try:
                await self.client.aclose()
            except Exception as exc:
                logger.debug("closing the Redis client: %r", exc)

    async def _flush_queue(self) -> None:
        """Publish what is queued, once (best effort, at close)."""
        if self._queue and self.healthy:
            try:
                await self._publish_batch(list(self._queue))
            except Exception as exc:
                logger.debug("messages queued at close were not published: %r", exc)
        while self._queue:
            _done(self._queue.popleft()[3])

    def on_outage(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` when Redis is found unreachable; returns a function that removes it."""
        self._outage_listeners.append(listener)

        def remove() -> None:
            if listener in self._outage_listeners:
                self._outage_listeners.remove(listener)

        return remove

    async def wait_health(self, healthy: bool, timeout: float) -> bool:
        """Wait until :attr:`healthy` is ``healthy`` (an outage noticed, or the link back)."""

        async def wait() -> None:
            while self.healthy is not healthy:
                self._health_changed.clear()
                await self._health_changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the subscriber connection is up with every subscription (for tests and init)."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    # -- subscriptions -----------------------------------------------------------------------------

    async def subscribe(
        self,
        channels: dict[bytes, MessageHandler] | None = None,
        patterns: dict[bytes, MessageHandler] | None = None,
        shard_channels: dict[bytes, MessageHandler] | None = None,
    ) -> None:
        for kind, names in ((_CHANNEL, channels), (_PATTERN, patterns), (_SHARD, shard_channels)):
            if names:
                self._subs[kind].update(names)
                await self._send(kind, list(names))

    async def unsubscribe(
        self,
        channels: list[bytes] | None = None,
        patterns: list[bytes] | None = None,
        shard_channels: list[bytes] | None = None,
    ) -> None:
        for command, kind, names in (
            ("unsubscribe", _CHANNEL, channels),
            ("punsubscribe", _PATTERN, patterns),
            ("sunsubscribe", _SHARD, shard_channels),
        ):
            if names:
                table = self._subs[kind]
                for name in names:
                    table.pop(name, None)
                await self._send(command, names)

    async def _send(self, command: str, names: list[bytes]) -> None:
        """Send a (un)subscription and wait until Redis has done it (its PING answer comes after)."""
        pubsub = self._pubsub
        if pubsub is None:
            return  # the reader subscribes to everything when it (re)connects
        self._tokens += 1
        token = b"socketeer-%d" % self._tokens
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[token] = done
        try:
            async with self._sub_lock:
                await getattr(pubsub, command)(*names)
                await pubsub.ping(token)
            await asyncio.wait_for(done, 2.0)
        except Exception as exc:  # the reader notices a broken connection and starts over
            logger.debug("%s failed: %r", command, exc)
        finally:
            self._pongs.pop(token, None)

    # -- publishing --------------------------------------------------------------------------------

    def publish(
        self, channel: bytes, data: bytes, *, sharded: bool = False, sent: asyncio.Future[None] | None = None
    ) -> None:
        """Queue ``data`` for ``channel`` (``SPUBLISH`` when ``sharded``); it leaves in order.

        ``sent``, when given, is resolved once Redis has taken the message (or it was dropped)."""
        if len(self._queue) >= _MAX_QUEUE:
            _done(self._queue.popleft()[3])
        self._queue.append((sharded, channel, data, sent))
        self._wake.set()
        if self._writer is None or self._writer.done():
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no running loop: it leaves when the adapter starts
                return
            self._start()

    async def publish_and_wait(self, channel: bytes, data: bytes, *, sharded: bool = False) -> None:
        """Publish and return once Redis has taken the message (or it was dropped in an outage)."""
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.publish(channel, data, sharded=sharded, sent=sent)
        await sent

    async def _publish_batch(self, batch: list[tuple[bool, bytes, bytes, asyncio.Future[None] | None]]) -> None:
        try:
            if len(batch) == 1:
                sharded, channel, data, _ = batch[0]
                await cast(Any, self.client).execute_command("SPUBLISH" if sharded else "PUBLISH", channel, data)
                return
            pipe = self.client.pipeline(transaction=False)
            for sharded, channel, data, _ in batch:
                pipe.execute_command("SPUBLISH" if sharded else "PUBLISH", channel, data)
            await pipe.execute()
        finally:
            for item in batch:
                _done(item[3])

    async def _write_loop(self) -> None:
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), _BATCH))]
                try:
                    await self._publish_batch(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._outage(exc, f"{len(batch) + len(queue)} message(s) not published")
                    while queue:
                        _done(queue.popleft()[3])
                else:
                    if not self.healthy and self._subscribed.is_set():
                        self._recovered()

    async def command(self, *args: Any) -> Any:
        """Run one command on the publishing client (``PUBSUB NUMSUB``...)."""
        return await cast(Any, self.client).execute_command(*args)

    async def shard_subscribers(self, channel: bytes) -> int:
        """How many connections subscribe to the shard channel (``PUBSUB SHARDNUMSUB``)."""
        return _numsub(await self.command("PUBSUB", "SHARDNUMSUB", channel))

    # -- reading -----------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        delay = self.reconnect_delay
        while not self._closed:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                self._pubsub = pubsub  # subscriptions made from now on go to it too
                async with self._sub_lock:
                    await self._subscribe_all(pubsub)
                delay = self.reconnect_delay
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is None:
                        continue
                    if message.get("type") == "pong":
                        self._on_pong(message.get("data"))
                    else:
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._outage(exc, "reconnecting")
            finally:
                self._pubsub = None
                self._subscribed.clear()
                try:
                    await pubsub.aclose()
                except Exception as exc:
                    logger.debug("closing the subscriber connection: %r", exc)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.reconnect_max_delay)

    async def _subscribe_all(self, pubsub: Any) -> None:
        subs = self._subs
        if not any(subs.values()):
            # a subscriber with nothing to read: subscribe to a private channel so reads block
            await pubsub.subscribe(b"socketeer#idle#")
        if subs[_CHANNEL]:
            await pubsub.subscribe(*subs[_CHANNEL])
        if subs[_PATTERN]:
            await pubsub.psubscribe(*subs[_PATTERN])
        if subs[_SHARD]:
            await pubsub.ssubscribe(*subs[_SHARD])
        await pubsub.ping(_READY)  # its answer comes once Redis has made every subscription

    def _on_pong(self, token: Any) -> None:
        if token == _READY:
            self._subscribed.set()
            if not self.healthy:
                self._recovered()
            return
        done = self._pongs.get(token)
        if done is not None and not done.done():
            done.set_result(None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        if kind == "pmessage":
            handler = self._subs[_PATTERN].get(message.get("pattern") or b"")
        elif kind == "message":
            handler = self._subs[_CHANNEL].get(channel)
        elif kind == "smessage":
            handler = self._subs[_SHARD].get(channel)
        else:
            return
        if handler is None:
            return
        try:
            handler(channel, data)
        except Exception:
            # decoders are total; this is a bug in a handler, not a bad message: keep reading
            logger.exception("error handling a message on %r", channel)

    # -- health ------------------------------------------------------------------------------------

    def _outage(self, exc: BaseException, what: str) -> None:
        if self.healthy and not self._closed:
            self.healthy = False
            self._health_changed.set()
            self.outages += 1
            logger.warning(
                "Redis is unreachable (%r): messages to the other servers are dropped until it is back (%s)",
                exc,
                what,
            )
            for listener in list(self._outage_listeners):
                try:
                    listener()
                except Exception:
                    logger.exception("error in a Redis outage listener")
        else:
            logger.debug("Redis still unreachable (%r): %s", exc, what)

    def _recovered(self) -> None:
        self.healthy = True
        self._health_changed.set()
        logger.warning("Redis is reachable again: subscriptions restored")


class _Resharded(Exception):
    """A shard channel left the node that served it (its slot moved): subscribe again where it is now."""


#: errors that say the slot map changed, not that Redis is gone: subscribe again, without an outage
_SLOT_CHANGES = (_Resharded, MovedError, AskError, TryAgainError)
#: what a node's subscriber connection takes from the cluster client's connection settings
_NODE_SETTINGS = (
    "username",
    "password",
    "credential_provider",
    "client_name",
    "socket_connect_timeout",
    "socket_keepalive",
    "socket_keepalive_options",
    "protocol",
)


class _NodeSubscriber:
    """The subscriber connection to one node of a cluster, and the task that reads it."""

    def __init__(self, node: ClusterNode, failure: asyncio.Future[BaseException]) -> None:
        self.node = node
        self.failure = failure  # the link's attempt that this connection belongs to
        settings = {k: v for k, v in node.connection_kwargs.items() if k in _NODE_SETTINGS or k.startswith("ssl")}
        pool = ConnectionPool(
            connection_class=node.connection_class,
            host=node.host,
            port=node.port,
            retry=Retry(NoBackoff(), 0),  # a broken connection ends the reader: the link starts over
            **settings,
        )
        # no socket timeout: a subscriber waits for messages as long as it takes
        self.redis = Redis.from_pool(pool)  # the client closes the pool
        self.pubsub: Any = self.redis.pubsub()
        self.task: asyncio.Task[None] | None = None
        self.unsubscribing: dict[bytes, int] = {}  # SUNSUBSCRIBE sent, confirmation not yet read

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except BaseException:  # noqa: S110 - a cancelled task; any failure was reported by it
                pass
        for closing in (self.pubsub.aclose, self.redis.aclose):
            try:
                await closing()
            except Exception as exc:
                logger.debug("closing the subscriber connection to %s: %r", self.node.name, exc)


class ClusterRedisLink(RedisLink):
    """Sharded pub/sub over a Redis Cluster (Redis 7+).

    ``SPUBLISH`` goes through the cluster client, which sends each message to the node that serves its
    channel's slot. Subscriptions use one connection per node that serves a subscribed channel, with one
    ``SSUBSCRIBE`` per slot (a command that names channels of several slots is refused with CROSSSLOT).
    When a node is lost, or a slot moves (``MOVED``, or the node unsubscribes the channels of a slot it
    gave away), the link reads the slot map again and subscribes on the nodes that serve them now.
    Only shard channels: classic pub/sub on a cluster is the classic adapter's business, on one node.
    """

    def __init__(
        self,
        redis: RedisCluster | str,
        *,
        reconnect_delay: float = 0.05,
        reconnect_max_delay: float = 2.0,
    ) -> None:
        if isinstance(redis, str):
            cluster = RedisCluster.from_url(redis, socket_connect_timeout=2.0)
            owns = True
        elif isinstance(redis, RedisCluster):
            cluster, owns = redis, False
        else:
            raise TypeError(f"a ClusterRedisLink needs a RedisCluster client or a URL, not {type(redis).__name__}")
        super().__init__(cast(Any, cluster), reconnect_delay=reconnect_delay, reconnect_max_delay=reconnect_max_delay)
        self.cluster = cluster
        self._owns_client = owns
        self._nodes: dict[str, _NodeSubscriber] = {}
        self._failure: asyncio.Future[BaseException] | None = None
        self._initialized = False

    async def subscribe(
        self,
        channels: dict[bytes, MessageHandler] | None = None,
        patterns: dict[bytes, MessageHandler] | None = None,
        shard_channels: dict[bytes, MessageHandler] | None = None,
    ) -> None:
        if channels or patterns:
            raise ValueError("a Redis Cluster link carries shard channels only (the sharded adapter)")
        await super().subscribe(shard_channels=shard_channels)

    async def shard_subscribers(self, channel: bytes) -> int:
        await self.cluster.initialize()  # once: the slot map is needed to find the channel's node
        node = self._node_of(channel)
        return _numsub(await self.cluster.pubsub_shardnumsub(channel, target_nodes=node))

    def _node_of(self, channel: bytes) -> ClusterNode:
        node = self.cluster.get_node_from_key(cast(Any, channel))
        if node is None:
            raise SlotNotCoveredError(f"no node of the cluster serves the slot of {channel!r}")
        return node

    # -- subscriptions, one connection per node --------------------------------------------------

    async def _read_loop(self) -> None:
        delay = self.reconnect_delay
        while not self._closed:
            failure: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
            try:
                await self._refresh_slots()
                self._failure = failure  # subscriptions made from now on go to the nodes too
                async with self._sub_lock:
                    await self._subscribe_on_nodes(list(self._subs[_SHARD]), "ssubscribe", failure)
                self._subscribed.set()
                if not self.healthy:
                    self._recovered()
                delay = self.reconnect_delay
                raise await failure
            except asyncio.CancelledError:
                raise
            except _SLOT_CHANGES as exc:
                logger.info("the Redis Cluster's slots changed (%r): subscribing again", exc)
            except Exception as exc:
                self._outage(exc, "reconnecting")
            finally:
                self._failure = None
                self._subscribed.clear()
                nodes, self._nodes = list(self._nodes.values()), {}
                for sub in nodes:
                    await sub.close()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.reconnect_max_delay)

    async def _refresh_slots(self) -> None:
        if not self._initialized:
            await self.cluster.initialize()
            self._initialized = True
        else:
            await self.cluster.nodes_manager.initialize()

    async def _send(self, command: str, names: list[bytes]) -> None:
        failure = self._failure
        if failure is None:
            return  # the reader subscribes to everything when it (re)connects
        async with self._sub_lock:
            if self._failure is not failure:
                return  # the link started over meanwhile, and subscribed to everything again
            try:
                await self._subscribe_on_nodes(names, command, failure)
            except Exception as exc:  # a node that fails or a stale slot map: the link starts over
                logger.debug("%s failed: %r", command, exc)
                _fail(failure, exc)

    async def _subscribe_on_nodes(
        self, names: list[bytes], command: str, failure: asyncio.Future[BaseException]
    ) -> None:
        """(Un)subscribe ``names``, one command per slot, on the nodes that serve them; return once done.

        ``failure`` is the link's current attempt: resolved (with the error) when one of its node
        readers fails, and then the link starts over."""
        by_node: dict[str, tuple[ClusterNode, dict[int, list[bytes]]]] = {}
        for name in names:
            node = self._node_of(name)
            by_node.setdefault(node.name, (node, {}))[1].setdefault(self.cluster.keyslot(name), []).append(name)
        waiting: list[asyncio.Future[None]] = []
        tokens: list[bytes] = []
        try:
            for node, slots in by_node.values():
                sub = self._nodes.get(node.name)
                if sub is None:
                    if command != "ssubscribe":
                        continue  # nothing subscribed on that node
                    sub = self._nodes[node.name] = _NodeSubscriber(node, failure)
                    # a private classic channel keeps the connection in subscriber mode when it has no shard
                    # channel left (nobody publishes on it)
                    await sub.pubsub.subscribe(b"socketeer#idle#")
                    sub.task = asyncio.ensure_future(self._read_node(sub))
                for group in slots.values():
                    if command == "sunsubscribe":
                        for name in group:
                            sub.unsubscribing[name] = sub.unsubscribing.get(name, 0) + 1
                    await getattr(sub.pubsub, command)(*group)
                self._tokens += 1
                token = b"socketeer-%d" % self._tokens
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._pongs[token] = done
                tokens.append(token)
                waiting.append(done)
                await sub.pubsub.ping(token)  # its answer comes once the node has done the commands above
            # the answers, or a node's reader that failed meanwhile (a MOVED answer to a SSUBSCRIBE)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 2.0
            watched: set[asyncio.Future[Any]] = set(waiting)
            while watched and not failure.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                done_now, _ = await asyncio.wait(
                    watched | {failure}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                watched -= done_now
            if failure.done():
                raise failure.result()
            if watched:
                raise asyncio.TimeoutError(f"no answer to {command} from the cluster within 2 s")
        finally:
            for token in tokens:
                self._pongs.pop(token, None)

    async def _read_node(self, sub: _NodeSubscriber) -> None:
        shard = self._subs[_SHARD]
        try:
            while True:
                message = await sub.pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind = message.get("type")
                if kind == "smessage":
                    self._dispatch(message)
                elif kind == "pong":
                    self._on_pong(message.get("data"))
                elif kind == "sunsubscribe":
                    channel = message.get("channel")
                    pending = sub.unsubscribing.get(channel, 0)
                    if pending > 1:
                        sub.unsubscribing[channel] = pending - 1
                    elif pending == 1:
                        del sub.unsubscribing[channel]
                    elif channel in shard:
                        raise _Resharded(f"{sub.node.name} no longer serves {channel!r}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("subscriber connection to %s: %r", sub.node.name, exc)
            _fail(sub.failure, exc)


def _fail(failure: asyncio.Future[BaseException], exc: BaseException) -> None:
    """End an attempt of a cluster link (once): it starts over."""
    if not failure.done():
        failure.set_result(exc)


def _numsub(reply: Any) -> int:
    """The count of a ``PUBSUB (SHARD)NUMSUB`` reply for one channel: ``[name, n]`` or ``[(name, n)]``."""
    if isinstance(reply, (list, tuple)):
        if len(reply) == 1 and isinstance(reply[0], (list, tuple)):
            reply = reply[0]
        if len(reply) > 1:
            return int(reply[1])
    raise ValueError(f"unexpected PUBSUB NUMSUB reply: {reply!r}")


def _done(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
