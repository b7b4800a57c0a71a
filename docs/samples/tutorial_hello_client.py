import asyncio
import os

import socketeer


async def main(url: str) -> None:
    client = socketeer.AsyncClient(url)
    greeted = asyncio.Event()

    @client.on("hello")
    def on_hello(text: str) -> None:
        print(f"the server says hello {text}")
        client.emit("howdy", "server")
        greeted.set()

    await client.connect()
    print(f"connected as {client.id}")
    await greeted.wait()
    await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("SERVER_URL", "http://127.0.0.1:3000")))
