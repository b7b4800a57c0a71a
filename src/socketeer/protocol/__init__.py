"""Layer 0: pure wire codecs (Engine.IO v4, Socket.IO v5, RFC 6455 frames). No I/O, no clock."""
