"""Pure ASGI middleware (no BaseHTTPMiddleware): WebSockets and streaming pass through untouched."""
