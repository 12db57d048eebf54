"""Who the browser is: sessions, CSRF tokens, e-mail identities and the OIDC client. Below the
app state and the sign-in routes (``services.web.auth``), which both build on it."""
