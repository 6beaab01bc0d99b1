"""Journals as clients hold them: signed by the server for one query, and accepted back only then.

A journal pins a paginated query's page end (:mod:`reactive.functions.pagination`) and is part of its
instance's key, so a journal of the client's choosing would let one client hold any number of
copies of one query, each re-run on every write. So a client gets each journal signed (Django's
signing, keyed by ``SECRET_KEY``) for that function and those arguments, and a journal it sends
back in ``Add`` is used only if it verifies for the query it comes with; any other is ignored, and
the query runs as if added without one. A journal larger than ``MAX_ARGS_BYTES`` fails the query.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core import signing

from ..conf import reactive_settings
from ..errors import LimitExceeded


def _signer(name: str, cargs: str) -> signing.Signer:
    """The signer for the journals of ``name`` with canonical args ``cargs``: each query has its own."""
    digest = hashlib.sha256(cargs.encode()).hexdigest()
    return signing.Signer(salt=f"reactive.journal:{name}:{digest}")


def issue(name: str, cargs: str, journal: str | None) -> str | None:
    """The journal as the client gets it: signed for ``name(cargs)``."""
    return None if journal is None else _signer(name, cargs).sign(journal)


def accept(name: str, cargs: str, sent: Any) -> str | None:
    """The journal a client sent with ``name(cargs)``, if this server issued it for that query; else None."""
    if not isinstance(sent, str):
        return None
    limit = reactive_settings.MAX_ARGS_BYTES
    size = len(sent.encode(errors="surrogatepass"))
    if size > limit:
        raise LimitExceeded(f"A journal of {size} bytes exceeds MAX_ARGS_BYTES={limit}")
    try:
        return _signer(name, cargs).unsign(sent)
    except signing.BadSignature:
        return None
