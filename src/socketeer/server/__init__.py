"""Layer 4: the Socket.IO server API (``io``, namespaces, sockets, broadcasts)."""
