"""Layer 3: rooms and fan-out. Adapters know sockets only by id and deliver through the namespace."""
