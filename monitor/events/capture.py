"""``Capture``: what one fetch saw, as every capture event (baseline, change, pending,
suspect) stores it under ``data["capture"]``.

Readers get typed properties instead of indexing a dict. The value keeps the stored
object whole: the capture is hashed as written, so encoding it again must give the same
bytes for every shape ever stored (keys were added over time and some are written only
when they say something). The properties are therefore the one place that knows the
older shapes: a key an older version did not write reads as its documented default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Capture:
    """One fetch's facts: URLs, status, headers, digests of the body and of its text.

    ``data`` is the stored JSON object; treat it as read-only (``with_`` gives a copy).
    """

    data: JsonObject

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Capture:
        # Shared, not copied: a stored event's data is never changed, and decoding every
        # event of a replay should not copy every capture.
        return cls(data if isinstance(data, dict) else dict(data))

    def to_data(self) -> JsonObject:
        return dict(self.data)

    def with_(self, **values: Any) -> Capture:
        """A copy with ``values`` set (keys as stored)."""
        return replace(self, data={**self.data, **values})

    # Written by every version.

    @property
    def requested_url(self) -> str:
        return str(self.data.get("requested_url") or "")

    @property
    def final_url(self) -> str:
        """Where the last redirect ended (the requested URL when there was none)."""
        return str(self.data.get("final_url") or "")

    @property
    def redirects(self) -> list[JsonObject]:
        """``[{url, status}, …]``: each hop before ``final_url``."""
        return list(self.data.get("redirects") or ())

    @property
    def status(self) -> int | None:
        status = self.data.get("status")
        return status if isinstance(status, int) else None

    @property
    def headers(self) -> Mapping[str, str]:
        headers: Mapping[str, str] = self.data.get("headers") or {}
        return headers

    @property
    def fetched_at(self) -> str:
        return str(self.data.get("fetched_at") or "")

    @property
    def elapsed_ms(self) -> int:
        return int(self.data.get("elapsed_ms") or 0)

    @property
    def raw_sha256(self) -> str:
        """The digest of the body as received (the blob of the response)."""
        return str(self.data.get("raw_sha256") or "")

    @property
    def text_sha256(self) -> str:
        """The digest of the normalized text (the blob of the text)."""
        return str(self.data.get("text_sha256") or "")

    @property
    def size(self) -> int:
        """The body's length in bytes (stored as ``bytes``)."""
        return int(self.data.get("bytes") or 0)

    @property
    def text_chars(self) -> int:
        return int(self.data.get("text_chars") or 0)

    @property
    def extractor(self) -> str:
        return str(self.data.get("extractor") or "")

    @property
    def extraction_key(self) -> str:
        """What the text depends on besides the body (extractor version, source rules)."""
        return str(self.data.get("extraction_key") or "")

    # Written when they say something, or added later: older captures read the default.

    @property
    def renderer(self) -> str:
        """``http`` or ``browser``; captures from before the browser are ``http``."""
        return str(self.data.get("renderer") or "http")

    @property
    def words_sha256(self) -> str | None:
        """The digest of the text's words (good captures since it was added)."""
        words = self.data.get("words_sha256")
        return str(words) if words else None

    @property
    def media_type(self) -> str:
        return str(self.data.get("media_type") or "")

    @property
    def format(self) -> str:
        """The extractor's format (``html``, ``pdf``, ``csv``, …); empty when not recorded."""
        return str(self.data.get("format") or "")

    @property
    def title(self) -> str:
        return str(self.data.get("title") or "")

    @property
    def canonical(self) -> str:
        """The page's ``<link rel="canonical">``, when it names one."""
        return str(self.data.get("canonical") or "")

    @property
    def chrome(self) -> Sequence[Sequence[int]]:
        """Line ranges of the text that are the page's navigation, header, footer, asides."""
        chrome: Sequence[Sequence[int]] = self.data.get("chrome") or ()
        return chrome

    @property
    def server(self) -> JsonObject | None:
        """The server's identity (IP, TLS version, certificate), when it was recorded."""
        server = self.data.get("server")
        return dict(server) if isinstance(server, Mapping) else None

    @property
    def parts(self) -> list[JsonObject]:
        """The parts of a document fetched from several URLs (``urls``), in order."""
        return [dict(part) for part in self.data.get("parts") or ()]

    @property
    def screenshot_sha256(self) -> str:
        return str(self.data.get("screenshot_sha256") or "")
