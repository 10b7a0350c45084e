"""openalgo: a self-hosted, broker-agnostic trading gateway for Indian markets."""

__version__ = "0.1.0"
