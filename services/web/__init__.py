"""The web UI service: sign-in, pages, browser JSON actions and SSE."""
