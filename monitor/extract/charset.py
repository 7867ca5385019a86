"""Bytes → str: find a page's character encoding and decode it without ever raising.

Pure. Order of evidence (the HTML Standard's, which is what browsers show):

1. a byte-order mark (UTF-8, UTF-16 LE/BE) — it wins even over the header,
   because a BOM cannot be there by accident while headers are often wrong;
2. the ``charset`` parameter of the Content-Type header;
3. for HTML, ``<meta charset>`` / ``http-equiv`` (or an XML declaration) in the
   first 4 KB;
4. UTF-8.

Labels are mapped as browsers map them (``iso-8859-1`` and ``ascii`` mean
windows-1252, ``gb2312``/``gbk`` mean GB18030, ``big5`` means Big5-HKSCS,
``shift_jis`` means windows-31j). An unknown label, or a Python codec that is not
a text encoding (``base64``, ``rot13``), is ignored and the next evidence is
used. Invalid bytes become U+FFFD.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Final

_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WHATWG_LABELS: Final = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "l1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252", "ansi_x3.4-1968": "cp1252",
    "cp819": "cp1252", "ibm819": "cp1252", "iso-ir-100": "cp1252", "windows-1252": "cp1252",
    "x-cp1252": "cp1252",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312": "gb18030",
    "gb_2312-80": "gb18030", "chinese": "gb18030", "csgb2312": "gb18030",
    "iso-ir-58": "gb18030", "csiso58gb231280": "gb18030", "cp936": "gb18030",
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs", "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs", "x-x-big5": "big5hkscs",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "ms932": "cp932", "windows-31j": "cp932", "csshiftjis": "cp932",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "ks_c_5601-1989": "cp949",
    "ksc5601": "cp949", "korean": "cp949", "windows-949": "cp949", "csksc56011987": "cp949",
    "iso-8859-9": "cp1254", "latin5": "cp1254", "iso8859-9": "cp1254",
    "tis-620": "cp874", "iso-8859-11": "cp874", "windows-874": "cp874",
    "utf-16": "utf-16-le", "x-mac-roman": "mac-roman", "macintosh": "mac-roman",
    "unicode-1-1-utf-8": "utf-8", "utf8": "utf-8",
}  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([^"';\s]+)""", re.I)


@lru_cache(maxsize=64)
def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when the label is unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _WHATWG_LABELS.get(name, name)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # bytes-to-bytes transforms (base64, zlib, rot13) are not charsets
    return info.name


def media_type_of(content_type: str | None) -> str | None:
    """The lower-cased essence of a Content-Type (``text/html``), or None."""
    if not content_type:
        return None
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence or None


def charset_param(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, as written."""
    if not content_type or ";" not in content_type:
        return None
    match = _CHARSET_PARAM.search(content_type.split(";", 1)[1])
    return match.group(1) if match else None


def sniff_html_charset(body: bytes) -> str | None:
    """The codec a page declares in its first 4 KB (meta charset or XML declaration)."""
    head = body[:4096]
    for pattern in (_META_CHARSET, _XML_ENCODING):
        match = pattern.search(head)
        if match:
            codec = codec_for(match.group(1).decode("ascii", "replace"))
            if codec is not None:
                # A page that declares UTF-16 in ASCII-readable markup cannot be UTF-16.
                return "utf-8" if codec.startswith("utf-16") else codec
    return None


def detect(body: bytes, content_type: str | None, *, html: bool) -> tuple[str, int]:
    """The codec ``body`` is written in, and the length of its byte-order mark (0 if none)."""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return bom_codec, len(bom)
    codec = codec_for(charset_param(content_type))
    if codec is None and html:
        codec = sniff_html_charset(body)
    return codec or "utf-8", 0


def decode(body: bytes, content_type: str | None, *, html: bool) -> tuple[str, str]:
    """The text of ``body`` and the codec used to read it. Never raises."""
    codec, skip = detect(body, content_type, html=html)
    return body[skip:].decode(codec, errors="replace"), codec
