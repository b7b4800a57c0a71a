import asyncio

from myapp import io

from socketeer.client import AsyncClient
from socketeer.testing import next_event, serve


async def main():
    async with serve(io) as live, AsyncClient(live.url) as client:
        client.emit("ping")
        print(await next_event(client, "pong"))


if __name__ == "__main__":
    asyncio.run(main())
