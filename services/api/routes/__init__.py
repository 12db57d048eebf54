"""The api's routers, each declaring its routes under ``PREFIX`` (see services.api.app)."""

PREFIX = "/api"
