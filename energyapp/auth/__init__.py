"""Authentication: passwords, sessions, tokens, 2FA."""
