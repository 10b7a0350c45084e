"""Passwords, API keys, sessions, encryption, rate limits and bans."""
