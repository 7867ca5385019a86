"""TLS contexts load the system's CA store when a connection first needs it, not when made.

aiohttp builds two client contexts when it is imported (verifying and not), and each
loads the system's CA store: ~25 ms of CPU apiece, at the start of every ``monitor``
process that fetches — most of a 304 check's start-up beyond the imports. With
``deferred_trust_store()`` (the CLI runs every command in it), a context that
asks for the default CAs (``set_default_verify_paths``, which ``create_default_context``
and aiohttp call) is marked instead, and loads them at its first use: before its first
TLS connection (``wrap_bio``, used by asyncio; ``wrap_socket``) and before anything
reads its store. So every connection verifies against exactly the CAs it would have;
a process that never opens one never pays for them.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()


class _DeferredTrust(ssl.SSLContext):
    """A context whose default CAs are not loaded yet; it becomes a plain one when they are."""

    def _trust(self) -> None:
        with _LOCK:
            if type(self) is _DeferredTrust:
                _LOAD_DEFAULT_CAS(self)
                self.__class__ = ssl.SSLContext  # type: ignore[assignment]

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._trust()
        return ssl.SSLContext.wrap_bio(self, *args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._trust()
        return ssl.SSLContext.wrap_socket(self, *args, **kwargs)

    def get_ca_certs(self, binary_form: bool = False) -> Any:
        self._trust()
        return ssl.SSLContext.get_ca_certs(self, binary_form)

    def cert_store_stats(self) -> dict[str, int]:
        self._trust()
        return ssl.SSLContext.cert_store_stats(self)


# The real loader (the C method every SSLContext inherits), kept before it is replaced.
_LOAD_DEFAULT_CAS = ssl.SSLContext.set_default_verify_paths


def _mark(context: ssl.SSLContext) -> None:
    if type(context) is ssl.SSLContext:
        context.__class__ = _DeferredTrust
    elif type(context) is not _DeferredTrust:  # a subclass of someone else's: load now
        _LOAD_DEFAULT_CAS(context)


@contextmanager
def deferred_trust_store() -> Iterator[None]:
    """While inside, new contexts load the default CAs on first use (see the module docstring).

    Contexts made inside keep doing so after it ends. Nested or concurrent uses leave
    the outermost one to restore ``ssl``.
    """
    if ssl.SSLContext.set_default_verify_paths is _mark:
        yield
        return
    ssl.SSLContext.set_default_verify_paths = _mark  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        del ssl.SSLContext.set_default_verify_paths  # the inherited C method again
