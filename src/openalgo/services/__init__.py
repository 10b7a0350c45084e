"""Use cases. Services take a session, call repositories and brokers, and never commit."""
