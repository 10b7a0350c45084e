"""Server-rendered admin pages: sign-in, account (password, API keys, TOTP), security."""
