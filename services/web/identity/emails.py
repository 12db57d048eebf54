"""The e-mail addresses the web accepts as identities (sign-in, invites, the OIDC claim)."""

from __future__ import annotations

import re
import unicodedata

# Deliberately plain: lower-cased ASCII domains, no quotes or markup in the local part.
_LOCAL = r"[^@\s<>\"'(),;:\\]{1,64}"
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|localhost"
EMAIL_RE = re.compile(rf"^{_LOCAL}@(?:{_DOMAIN})$")


def normalise_email(value: str) -> str | None:
    email = value.strip().lower()
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        return None
    # No control, format (bidi overrides such as U+202E, zero-width), private-use or separator
    # characters: an identity shown to everyone must read as what it is.
    if any(unicodedata.category(ch)[0] in "CZ" for ch in email):
        return None
    return email
