import asyncio
import ssl
import sys

import socketeer


async def main(url: str, ca_file: str) -> str:
    # trust the server's certificate (a private CA or a self-signed one); public CAs need no context
    context = ssl.create_default_context(cafile=ca_file)
    client = socketeer.AsyncClient(url, ssl=context)
    await client.connect()
    answer = str(await client.emit_with_ack("ping"))
    await client.disconnect()
    return answer


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1], sys.argv[2])))  # python tls_client.py https://host:8443 cert.pem
