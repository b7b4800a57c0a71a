import socketeer

io = socketeer.Server(
    max_http_buffer_size=100_000,
    limits=socketeer.Limits(
        max_events_per_second=20,
        max_connections_per_address=50,
        max_send_buffer=1_000_000,
        send_buffer_policy="close",
    ),
)
