"""Routers of the web UI: pages and browser JSON actions."""
