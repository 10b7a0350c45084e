"""Database layer: engines, sessions, models, repositories and migrations."""
