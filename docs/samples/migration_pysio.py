# python-socketio
import socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[])


@sio.event
async def connect(sid, environ, auth):
    if not auth or auth.get("token") != "t0ken":
        raise socketio.exceptions.ConnectionRefusedError("not authorized")
    await sio.save_session(sid, {"user": "ada"})
    await sio.enter_room(sid, "lobby")


@sio.on("add")
async def add(sid, a, b):
    return a + b


@sio.on("chat")
async def chat(sid, text):
    session = await sio.get_session(sid)
    await sio.emit("chat", {"from": session["user"], "text": text}, room="lobby", skip_sid=sid)


@sio.event
async def disconnect(sid, reason):
    print("left", sid, reason)


app = socketio.ASGIApp(sio)
