"""Sign-in (OIDC, guest invites, dev login), server-side sessions and CSRF."""
