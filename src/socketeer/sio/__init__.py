"""Layer 1: Socket.IO protocol vocabulary shared by the server and the client."""
