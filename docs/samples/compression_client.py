import os

import socketeer

url = os.environ.get("SERVER_URL", "http://127.0.0.1:8000")

client = socketeer.AsyncClient(url)  # offered, threshold 1024
client = socketeer.AsyncClient(url, per_message_deflate=False)  # not offered
client = socketeer.AsyncClient(url, per_message_deflate={"threshold": 0, "server_no_context_takeover": True})
