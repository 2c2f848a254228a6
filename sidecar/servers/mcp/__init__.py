"""The Model Context Protocol: the sidecar's MCP server on the HTTP port (server.py, /v1/mcp)
and the stdio proxy `sidecar mcp` that desktop agents launch (proxy.py). The proxy imports
neither the engine nor the server, so it starts quickly and small."""

INTERFACE = "mcp"  # how audit and metrics name this interface
