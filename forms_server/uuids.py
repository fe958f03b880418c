"""uuid() values for one submission, derived from its id: the same on every resend.

The n-th value (from 0) is ``uuid.uuid5(uuid.uuid5(NAMESPACE_URL, "forms-server:" +
seed), str(n))``, written as ``str(UUID)`` writes it. The version 5 UUIDs are made
here from SHA-1 directly, the namespace hashed once and only when a form asks for a
value: a validation must not spend on them what it does not use.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

try:  # CPython's own SHA-1: quicker to start and to copy than OpenSSL's
    from _sha1 import sha1  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    from hashlib import sha1

__all__ = ["seeded_uuids"]

_URL_NAMESPACE = sha1(uuid.NAMESPACE_URL.bytes)
#: A hex digit -> that digit with its two top bits the RFC 4122 variant (10).
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def seeded_uuids(seed: str) -> Callable[[], str]:
    """The uuid() values of the submission ``seed``, one per call."""
    name = bytes("forms-server:" + seed, "utf-8")
    counter = itertools.count()
    namespace: list[Any] = []

    def make_uuid() -> str:
        if not namespace:
            digest = _URL_NAMESPACE.copy()
            digest.update(name)
            raw = bytearray(digest.digest()[:16])
            raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
            raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
            namespace.append(sha1(bytes(raw)))
        digest = namespace[0].copy()
        digest.update(bytes(str(next(counter)), "utf-8"))
        h = digest.hexdigest()
        return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"

    return make_uuid
