import socketeer
from socketeer.metrics import Metrics

io = socketeer.Server()
metrics = Metrics(io)

# every request that is not Socket.IO's goes to the metrics app (or mount metrics.asgi_app() in your router)
app = socketeer.ASGIApp(io, other_asgi_app=metrics.asgi_app())
