from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import socketeer

io = socketeer.Server(cors={"origins": ["https://app.example.com"]})


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


app = socketeer.ASGIApp(io, Starlette(routes=[Route("/", home)]))
# uvicorn module:app   or   hypercorn module:app   or   granian --interface asgi module:app
