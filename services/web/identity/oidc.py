"""OpenID Connect client: discovery, PKCE authorization URL, code exchange, ID token checks.

The OAuth 2.0 protocol parts come from Authlib's HTTP-free core (authorization URL, S256
challenge, token request body, client authentication) and the ID token is checked with joserfc
(Authlib's JOSE library); every request goes through the app's one httpx client. Discovery and
the JWKS cache are ours: ``docs/decisions.md`` says why.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from services.web.identity.emails import normalise_email
from services.web.settings import WebSettings

CALLBACK_PATH = "/auth/callback"
_METADATA_TTL_S = 3600
_JWKS_TTL_S = 3600
_JWKS_MIN_REFRESH_S = 60  # an unknown kid refetches the JWKS at most this often
_LEEWAY_S = 60
# Asymmetric algorithms only: never "none", never HS* (that would make the client secret a key).
_SAFE_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class OIDCError(Exception):
    """Sign-in refused; ``str()`` is safe to show, ``reason`` goes to the audit log."""

    def __init__(self, message: str, reason: str, *, status_code: int = 403) -> None:
        super().__init__(message)
        self.reason = reason
        self.status_code = status_code


class ProviderUnavailable(OIDCError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            "The sign-in provider is not answering; try again shortly", reason, status_code=502
        )


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    email: str
    name: str
    subject: str


def new_code_verifier() -> str:
    """A PKCE code verifier: 86 characters, within RFC 7636's 43..128."""
    return secrets.token_urlsafe(64)


def _client_secret_basic(
    auth: ClientAuth, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """HTTP Basic client authentication as RFC 6749 §2.3.1 says: both halves form-urlencoded.

    Authlib's own encoder joins them raw in latin-1: a secret with ":" or "%" would be sent
    wrong, and one outside latin-1 would raise.
    """
    pair = f"{quote(auth.client_id, safe='')}:{quote(auth.client_secret, safe='')}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return uri, headers, body


def redirect_uri(settings: WebSettings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


class OIDCClient:
    """One per process: caches the provider's metadata and keys."""

    def __init__(
        self,
        settings: WebSettings,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock  # the caches' ages (tests step it)
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            resp = await self.http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            raise ProviderUnavailable(f"{what}: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise ProviderUnavailable(f"{what}: not JSON") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{what}: not an object")
        return data

    async def metadata(self) -> ProviderMetadata:
        now = self.clock()
        if self._metadata is not None and now - self._metadata_at < _METADATA_TTL_S:
            return self._metadata
        issuer = self.settings.oidc_issuer.rstrip("/")
        doc = await self._get_json(issuer + "/.well-known/openid-configuration", "discovery")
        # The document must describe the issuer we were configured with (OIDC Discovery §4.3).
        if str(doc.get("issuer", "")).rstrip("/") != issuer:
            raise ProviderUnavailable("discovery: issuer mismatch")
        try:
            endpoints = [
                str(doc[name]) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            ]
        except KeyError as exc:
            raise ProviderUnavailable(f"discovery: missing {exc.args[0]}") from exc
        if not self.settings.is_dev and not all(e.startswith("https://") for e in endpoints):
            raise ProviderUnavailable("discovery: endpoint not https")
        algs = tuple(
            a
            for a in doc.get("id_token_signing_alg_values_supported", ["RS256"])
            if a in _SAFE_ALGS
        )
        self._metadata = ProviderMetadata(
            issuer=str(doc["issuer"]),
            authorization_endpoint=endpoints[0],
            token_endpoint=endpoints[1],
            jwks_uri=endpoints[2],
            token_auth_methods=tuple(
                doc.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
            ),
            algorithms=algs or ("RS256",),
        )
        self._metadata_at = now
        return self._metadata

    async def _key_set(self, meta: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        now = self.clock()
        fresh = self._keys is not None and now - self._keys_at < _JWKS_TTL_S
        throttled = now - self._keys_at < _JWKS_MIN_REFRESH_S
        if self._keys is not None and (fresh and not refresh or refresh and throttled):
            return self._keys
        doc = await self._get_json(meta.jwks_uri, "jwks")
        usable = [
            k
            for k in doc.get("keys", [])
            if isinstance(k, dict)
            and k.get("kty") in ("RSA", "EC", "OKP")
            and k.get("use") != "enc"
        ]
        if not usable:
            raise ProviderUnavailable("jwks: no usable keys")
        try:
            self._keys = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError) as exc:
            raise ProviderUnavailable("jwks: unreadable keys") from exc
        self._keys_at = now
        return self._keys

    def authorization_url(
        self, meta: ProviderMetadata, *, state: str, nonce: str, code_verifier: str
    ) -> str:
        """The authorization code request with PKCE (S256 only) and the nonce."""
        url: str = prepare_grant_uri(
            meta.authorization_endpoint,
            client_id=self.settings.oidc_client_id,
            response_type="code",
            redirect_uri=redirect_uri(self.settings),
            scope=self.settings.oidc_scopes,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
        )
        return url

    def _client_auth(self, meta: ProviderMetadata) -> ClientAuth:
        """client_secret_basic unless the provider takes only client_secret_post."""
        post_only = "client_secret_post" in meta.token_auth_methods and (
            "client_secret_basic" not in meta.token_auth_methods
        )
        return ClientAuth(
            self.settings.oidc_client_id,
            self.settings.oidc_client_secret.get_secret_value(),
            "client_secret_post" if post_only else _client_secret_basic,
        )

    async def exchange_code(self, meta: ProviderMetadata, code: str, code_verifier: str) -> str:
        """Trade the code for tokens; returns the raw ID token."""
        body: str = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=redirect_uri(self.settings),
            code_verifier=code_verifier,
        )
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        url, headers, body = self._client_auth(meta).prepare(
            "POST", meta.token_endpoint, headers, body
        )
        try:
            resp = await self.http.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"token: {type(exc).__name__}") from exc
        if resp.status_code >= 500:
            raise ProviderUnavailable(f"token: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise OIDCError(
                "The sign-in code was refused; start again", "token_rejected", status_code=400
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise ProviderUnavailable("token: not JSON") from exc
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(id_token, str) or not id_token:
            raise OIDCError("The provider sent no ID token", "no_id_token")
        return id_token

    async def verify_id_token(self, meta: ProviderMetadata, id_token: str, nonce: str) -> Identity:
        """Signature (JWKS), iss, aud, azp, exp, iat, nonce; then a verified e-mail."""
        keys = await self._key_set(meta)
        try:
            token = jwt.decode(id_token, keys, algorithms=list(meta.algorithms))
        except JoseError as exc:
            if not isinstance(exc, InvalidKeyIdError):
                raise OIDCError("Sign-in could not be verified", "bad_signature") from exc
            # Key rotation: the provider may have published a new key since we fetched.
            keys = await self._key_set(meta, refresh=True)
            try:
                token = jwt.decode(id_token, keys, algorithms=list(meta.algorithms))
            except JoseError as exc2:
                raise OIDCError("Sign-in could not be verified", "bad_signature") from exc2
        except ValueError as exc:
            raise OIDCError("Sign-in could not be verified", "malformed_token") from exc
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=_LEEWAY_S,
            iss={"essential": True, "value": meta.issuer},
            aud={"essential": True, "value": self.settings.oidc_client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OIDCError("Sign-in could not be verified", f"claims: {exc.error}") from exc
        aud = claims.get("aud")
        if (
            isinstance(aud, list)
            and len(aud) > 1
            and claims.get("azp") != self.settings.oidc_client_id
        ):
            raise OIDCError("Sign-in could not be verified", "claims: azp")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(
            token_nonce.encode(), nonce.encode()
        ):
            raise OIDCError("Sign-in could not be verified", "bad_nonce")
        email = claims.get("email")
        verified = claims.get("email_verified")
        if isinstance(verified, str):  # some providers send "true"
            verified = verified.lower() == "true"
        if not isinstance(email, str) or "@" not in email:
            raise OIDCError("Your account has no e-mail address", "no_email")
        if verified is not True:
            raise OIDCError("Your e-mail address is not verified", "email_unverified")
        # A plain address only: the domain check reads what follows the last "@", and the
        # address names Redis keys and shows in pages ("eve@evil.example@example.com" is out).
        plain = normalise_email(email)
        if plain is None:
            raise OIDCError("Your account's e-mail address cannot be used here", "bad_email")
        name = claims.get("name")
        return Identity(
            email=plain,
            name=name if isinstance(name, str) and name.strip() else email.split("@", 1)[0],
            subject=str(claims["sub"]),
        )
