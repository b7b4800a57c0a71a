import socketeer

io = socketeer.Server(per_message_deflate=True)  # threshold 1024, zlib defaults
io = socketeer.Server(per_message_deflate={"threshold": 256, "server_no_context_takeover": True})
io = socketeer.Server(
    per_message_deflate=socketeer.PerMessageDeflate(
        threshold=1024,  # messages (Engine.IO packets) smaller than this go uncompressed
        level=-1,  # zlib level; -1 is zlib's default (6)
        mem_level=8,
        server_no_context_takeover=False,
        client_no_context_takeover=False,
        server_max_window_bits=None,  # 9..15; None: 15 unless the client asks for less
        client_max_window_bits=None,  # 9..15; sent only to clients that offer to take it
    )
)
