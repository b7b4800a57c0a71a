"""Layer 1: sans-I/O Engine.IO session state machines. The caller passes the time."""
