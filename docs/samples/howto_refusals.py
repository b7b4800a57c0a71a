import logging

import socketeer
from socketeer.protocol.engineio_errors import EngineErrorCode
from socketeer.transports.ports import HttpRequest

logger = logging.getLogger("myapp")
io = socketeer.Server(limits=socketeer.Limits(max_connections=1000))


@io.engine.on_connection_error
def refused(request: HttpRequest, code: EngineErrorCode, message: str) -> None:
    logger.info("refused %s %s: %s (%d)", request.method, request.path, message, code)
