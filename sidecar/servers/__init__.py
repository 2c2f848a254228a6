"""Protocol servers: each knows its wire format and the engine's interface, nothing of sources."""
