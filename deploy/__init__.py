"""Deployment tooling: `python -m deploy.verify` checks a live deployment."""
