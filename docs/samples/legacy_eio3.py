import socketeer

io = socketeer.Server(allow_eio3=True)
