import os
from dataclasses import dataclass

import socketeer


@dataclass
class Notice:
    text: str
    level: int = 0


client = socketeer.AsyncClient(os.environ.get("SERVER_URL", "http://127.0.0.1:8000"))


@client.on("notice")
def on_notice(notice: Notice) -> None:
    print(f"notice (level {notice.level}): {notice.text}")  # a Notice, built from the JSON object
