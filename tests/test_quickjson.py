"""quickjson answers exactly as json does: the same value or the same kind of error."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loopback_login.store import quickjson

SETTINGS = settings(max_examples=300, deadline=None, database=None)

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity included: json writes them, so must we read
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_encoded = st.tuples(_values, st.sampled_from(["utf-8", "utf-8-sig", "utf-16"])).map(
    lambda pair: json.dumps(pair[0], ensure_ascii=False).encode(pair[1])
)
_padded = st.tuples(
    st.text(" \t\n\r\x0b\x0c", max_size=3), _values, st.text(" \t\n\r\x0c", max_size=3)
).map(lambda t: (t[0] + json.dumps(t[1]) + t[2]).encode())


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to itself (json turns NaN into NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@SETTINGS
@given(data=st.binary(max_size=64) | _encoded | _padded)
@example(data=b'{"a": 1} x')
@example(data=b'{"a": NaN}')
@example(data=b"\xef\xbb\xbf{}")
@example(data=b'"\x01"')
@example(data=b"1" * 5000)  # past int's digit limit
@example(data=b"[" * 100_000)  # deeper than the recursion limit
def test_loads_is_json_loads(data: bytes) -> None:
    try:
        expected: Any = json.loads(data)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            quickjson.loads(data)
        return
    assert same(quickjson.loads(data), expected)


@SETTINGS
@given(
    fields=st.dictionaries(st.text(), st.none() | st.text() | st.integers(), max_size=6)
)
def test_dumps_flat_is_json_dumps(fields: dict[str, str | int | None]) -> None:
    assert quickjson.dumps_flat(fields) == json.dumps(fields)


def test_dumps_flat_refuses_other_values() -> None:
    with pytest.raises(TypeError, match="expires_at"):
        quickjson.dumps_flat({"expires_at": 1.5})
