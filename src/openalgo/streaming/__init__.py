"""Tick bus, subscription hub and WebSocket fan-out."""
