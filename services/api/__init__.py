"""The token-guarded REST API service."""
