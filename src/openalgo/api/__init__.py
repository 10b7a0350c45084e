"""HTTP and WebSocket edge: routers, schemas, dependencies, pages."""
