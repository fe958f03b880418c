"""CSRF tokens and the server's secret.

Form posts carry a double-submit token: the same signed value in a cookie and in
the form's hidden ``_csrf`` field. The signature means a cookie planted by another
site or subdomain is refused; the cookie is only set when missing, so a page kept
open (or a submission queued offline) keeps a valid token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

CSRF_COOKIE = "fs_csrf"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"


def load_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret, or one generated once and kept in ``data_dir/secret_key``."""
    if configured:
        return configured.encode()
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip().encode()


class Csrf:
    """Makes and checks signed tokens."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"csrf:" + secret).digest()

    def new_token(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sign(nonce)}"

    def is_signed(self, token: str | None) -> bool:
        if not token or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        return hmac.compare_digest(signature, self._sign(nonce))

    def check(self, cookie: str | None, submitted: str | None) -> bool:
        """The submitted token equals the cookie's, and the cookie's is ours."""
        return (
            self.is_signed(cookie)
            and submitted is not None
            and hmac.compare_digest(cookie or "", submitted)
        )

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:32]
