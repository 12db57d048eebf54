"""Andre's three services: api, web and player."""
