"""Domain logic shared by the Reflex states and the API routes. Never imports either."""
