"""Making customer-supplied content safe to store and show."""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable, Mapping

import nh3

# Zero-width, bidi-control and other invisible characters: an attacker hides a second
# extension behind them ("invoice.pdf\u200b.html"), so they go before any name check.
_INVISIBLE = re.compile(r"[\u0000-\u001f\u007f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                        r"\u2066-\u206f\ufeff\ufff9-\ufffb]")
_UNSAFE_NAME_CHARS = re.compile(r'[\\/:*?"<>|]')
_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}


def sanitize_html(html: str) -> str:
    """Reduce customer HTML to an allow-list: no scripts, styles, handlers or javascript: URLs.

    Images may only point at inline parts (``cid:``) or be embedded (``data:``); remote images
    are dropped because they leak to the sender when an agent opens the ticket.
    """
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_drop_remote_images,
    )


def _drop_remote_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.startswith(("cid:", "data:image/")):
        return None
    return value


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A display filename with invisible characters and path separators removed."""
    name = unicodedata.normalize("NFC", name or "")
    name = _INVISIBLE.sub("", name)
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")
    return name[:255] or fallback


#: Inline images shown in the formatted view: raster types only (an SVG can carry script),
#: and small enough to embed.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
INLINE_IMAGE_MAX_BYTES = 2 * 1024 * 1024
_CID_SOURCE = re.compile(r'src="cid:([^"]+)"')


def content_id_key(content_id: str) -> str:
    """A Content-ID as ``cid:`` URLs name it (RFC 2392): without the angle brackets."""
    return content_id.strip().strip("<>").strip().lower()


def embed_inline_images(html: str, images: Mapping[str, tuple[str, int]],
                        read: Callable[[str], bytes]) -> str:
    """Replace ``cid:`` image sources in sanitised ``html`` by ``data:`` URLs.

    ``images`` maps a Content-ID key (:func:`content_id_key`) to (content type, size) of a
    part on the same message; ``read`` loads a part's bytes by that key. Only raster images
    up to :data:`INLINE_IMAGE_MAX_BYTES` are embedded, so the sandboxed view (whose CSP
    allows ``data:`` images and nothing else) shows them without a request to anyone;
    anything else keeps its dead ``cid:`` source.
    """
    def replace(match: re.Match[str]) -> str:
        key = content_id_key(match.group(1))
        content_type, size = images.get(key, ("", 0))
        if content_type not in INLINE_IMAGE_TYPES or size > INLINE_IMAGE_MAX_BYTES:
            return match.group(0)
        encoded = base64.b64encode(read(key)).decode("ascii")
        return f'src="data:{content_type};base64,{encoded}"'

    return _CID_SOURCE.sub(replace, html)
