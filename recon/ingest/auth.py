"""Token providers: Vipps accounting-key token, Entur client credentials, Samtrafiken private_key_jwt.

Each caches its token until shortly before expiry; ``invalidate()`` forces the next call to
fetch a new one (the HTTP layer does that once on an unexpected 401).

Every secret is registered with the redactor in each form it is sent in (the raw value and its
URL- and JSON-escaped forms, the Basic credential, each client assertion, each token received);
of a refused token request only the OAuth ``error`` and ``error_description`` reach a message.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from recon.config import Secret
from recon.errors import FatalSourceError, HttpStatusError, SourceError
from recon.ingest.http import Session
from recon.logs import register_basic_credential, register_secret

# Refresh this long before the server's expiry, so a token never expires mid-page.
_MARGIN_SECONDS = 60.0


class CachedToken:
    def __init__(self, session: Session, token_url: str, clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.token_url = token_url
        self.clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetched = 0

    def _fetch(self) -> Any:  # pragma: no cover - each provider defines it
        raise NotImplementedError

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                self._token, lifetime = self._parse(self._fetch_checked())
                margin = min(_MARGIN_SECONDS, lifetime / 10)
                self._expires_at = self.clock() + lifetime - margin
                self.fetched += 1
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch_checked(self) -> Any:
        try:
            return self._fetch()
        except SourceError as exc:
            # The server's words, not ours: the request (and its secret) never goes in a message.
            reason = exc.summary if isinstance(exc, HttpStatusError) else exc.detail
            raise FatalSourceError(exc.source, f"token request to {self.token_url} failed: {reason}") from None

    def _parse(self, body: Any) -> tuple[str, float]:
        source = self.session.source
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise FatalSourceError(source, f"token response from {self.token_url} has no access_token")
        register_secret(body["access_token"])  # an echo of a data request must not show it either
        try:
            lifetime = float(body.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        return body["access_token"], max(lifetime, 1.0)


class VippsToken(CachedToken):
    """``POST /miami/v1/token``: HTTP Basic client_id:client_secret, form grant_type; no subscription key."""

    def __init__(self, session: Session, token_url: str, client_id: str, secret: Secret, **kw: Any) -> None:
        super().__init__(session, token_url, **kw)
        self.client_id, self.secret = client_id, secret
        register_basic_credential(client_id, secret.reveal())  # as sent: base64 of id:secret

    def _fetch(self) -> Any:
        return self.session.request_json(
            "POST", self.token_url, what="POST token", oauth=True,
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(self.client_id, self.secret.reveal()),
        )


class EnturToken(CachedToken):
    """OAuth2 client credentials with a JSON body that carries the audience."""

    def __init__(self, session: Session, token_url: str, client_id: str, secret: Secret, audience: str,
                 **kw: Any) -> None:
        super().__init__(session, token_url, **kw)
        self.client_id, self.secret, self.audience = client_id, secret, audience
        register_secret(secret.reveal())

    def _fetch(self) -> Any:
        return self.session.request_json(
            "POST", self.token_url, what="POST token", oauth=True,
            json={"client_id": self.client_id, "client_secret": self.secret.reveal(),
                  "audience": self.audience, "grant_type": "client_credentials"},
        )


class PrivateKeyJwtToken(CachedToken):
    """RFC 7523 ``private_key_jwt``: a client assertion signed with our key (Samtrafiken).

    The audience defaults to the token URL (RFC 7523); many servers want their issuer instead,
    and the algorithm is whatever the client was registered with (RS256, PS256 or ES256).
    """

    assertion_lifetime = 120

    def __init__(self, session: Session, token_url: str, client_id: str, private_key: Secret, kid: str,
                 scope: str | None = None, *, audience: str | None = None, alg: str = "RS256", **kw: Any) -> None:
        super().__init__(session, token_url, **kw)
        self.client_id, self.private_key, self.kid, self.scope = client_id, private_key, kid, scope
        register_secret(private_key.reveal())
        self.audience, self.alg = audience or token_url, alg

    def assertion(self) -> str:
        now = int(self.clock())
        claims = {
            "iss": self.client_id, "sub": self.client_id, "aud": self.audience,
            "iat": now, "nbf": now, "exp": now + self.assertion_lifetime, "jti": uuid.uuid4().hex,
        }
        try:
            return jwt.encode(claims, self.private_key.reveal(), algorithm=self.alg, headers={"kid": self.kid})
        except (ValueError, TypeError, jwt.PyJWTError):
            # The library's message could quote the key material; say only what is wrong.
            kind = "EC (P-256)" if self.alg == "ES256" else "RSA"
            raise FatalSourceError(self.session.source, f"the private key is not a readable {kind} PEM key "
                                   f"for {self.alg} (samtrafiken.assertion_alg)") from None

    def _form(self) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion(),
        }
        register_secret(form["client_assertion"])  # a bearer credential until it expires
        if self.scope:
            form["scope"] = self.scope
        return {"data": form}

    def _fetch(self) -> Any:
        # A new assertion (new jti) per attempt: the server refuses a replayed one.
        return self.session.request_json("POST", self.token_url, what="POST token", fresh=self._form,
                                         oauth=True)
