"""JSON for the hot path, without importing ``json``.

``import json`` imports ``re`` (and ``enum`` with it): about half of what a cached
``loopback-login token`` spends beyond the interpreter's own start-up. CPython's
``json`` parses and quotes with its C accelerator ``_json``; this module calls it
directly. Whenever that is not possible or not certain (no ``_json``, bytes that are
not plain UTF-8, ``NaN``, any error) it hands the input to ``json`` itself, so the
answer, and every error, is always exactly what ``json`` gives.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["dumps_flat", "loads"]

_WHITESPACE = " \t\n\r"  # the four JSON allows (RFC 8259 §2)


class _Unsure(Exception):
    """The fast path declines; ``json`` decides."""


def _decline(_name: str) -> Any:
    raise _Unsure  # NaN, Infinity: rare, and json's own rules apply


class _Context:
    # The attributes the C scanner reads from a json.JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_decline)


def _c_scanner() -> Callable[[str, int], tuple[Any, int]] | None:
    try:
        from _json import make_scanner
    except ImportError:  # another interpreter: json's pure-Python parser it is
        return None
    # typeshed asks for a JSONDecoder; the attributes it reads are all there.
    return make_scanner(_Context())  # type: ignore[arg-type]


def _c_quote() -> Callable[[str], str] | None:
    try:
        from _json import encode_basestring_ascii
    except ImportError:
        return None
    return encode_basestring_ascii


_scan = _c_scanner()
_quote = _c_quote()


def loads(data: bytes) -> Any:
    """``json.loads(data)``: the same value, or the same exception."""
    if _scan is not None and not data.startswith(b"\xef\xbb\xbf"):
        try:
            text = data.decode("utf-8")
            start = len(text) - len(text.lstrip(_WHITESPACE))
            value, end = _scan(text, start)
            if text[end:].strip(_WHITESPACE):
                raise _Unsure
            return value
        except (_Unsure, StopIteration, ValueError):
            pass  # json says what exactly is wrong (and may accept what we refused)
    import json

    return json.loads(data)


def dumps_flat(fields: dict[str, str | int | None]) -> str:
    """``json.dumps(fields)`` for a flat object of text, whole numbers and nulls."""
    if _quote is None:
        import json

        return json.dumps(fields)
    quote = _quote
    parts = []
    for key, value in fields.items():
        if value is None:
            text = "null"
        elif isinstance(value, str):
            text = quote(value)
        elif type(value) is int:
            text = str(value)
        else:
            raise TypeError(f"{key}: {type(value).__name__} is not text or a number")
        parts.append(f"{quote(key)}: {text}")
    return "{" + ", ".join(parts) + "}"
