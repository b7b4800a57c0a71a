"""Layer 2: asyncio I/O that drives the sans-I/O sessions, reached through small ports."""
