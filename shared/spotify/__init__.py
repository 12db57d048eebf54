"""Spotify Web API client, built-in demo catalog, and encrypted per-user tokens."""
