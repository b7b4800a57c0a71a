import socketeer

io = socketeer.Server()  # on: gzip/deflate from 1024 bytes
io = socketeer.Server(http_compression={"threshold": 4096, "level": 9})
io = socketeer.Server(http_compression=socketeer.HttpCompression(threshold=0))
io = socketeer.Server(http_compression=False)  # never
