"""The api's routers; each is mounted with the token dependency (see services.api.app)."""
