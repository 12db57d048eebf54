"""The ``andre`` operator CLI: REST API client, play-log import, backup/restore and verify."""
