"""The HTTP interface: a FastAPI app over the services (one service call per route)."""
