import asyncio
import ssl
import sys

import socketeer


async def main(url: str, verify: bool = True) -> str:
    context = ssl.create_default_context()
    if not verify:  # a development certificate: no authority vouches for it
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client = socketeer.AsyncClient(url, transports=("webtransport",), ssl=context, reconnection=False)
    await client.connect()
    try:
        answer: str = await client.emit_with_ack("ping")
        return answer
    finally:
        await client.close()


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1], "--insecure" not in sys.argv)))
