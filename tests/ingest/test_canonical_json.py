"""orjson where the stdlib was: byte for byte the same canonical JSON, the same decoded values.

``canonical_json_bytes`` (orjson, sorted keys) must give exactly the text the stdlib encoder
gave before (``_raw`` and ``_hash`` depend on it), or decline (None) so that the stdlib encoder is
used; ``decode_json`` must build exactly what ``json.loads(parse_float=Decimal)`` builds.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from recon.ingest.http import TooDeep, decode_json
from recon.lake.landing import canonical_json, canonical_json_bytes, canonical_json_plain, content_hash

# How canonical_json encoded before orjson: the reference.
STDLIB = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12) | st.sampled_from(
    ["", "\x00", "\x1f", "\x7f", "\u2028", "\u2029", "\ud800", "\udcff", "a\udcffb", "\"\\/", "ø😀", "\ufeff"])
INTS = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(
    [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 0])
DECIMALS = st.decimals(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [Decimal("12.50"), Decimal("-0.0"), Decimal("1E+2"), Decimal("1e-7"), Decimal("NaN")])
SCALARS = st.none() | st.booleans() | INTS | DECIMALS | TEXT | st.builds(TooDeep, TEXT)
KEYS = TEXT | st.integers(-5, 5) | st.booleans() | st.none()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=3), max_leaves=25)


def stdlib(value: Any) -> str | None:
    try:
        return STDLIB.encode(value)
    except (TypeError, ValueError):  # mixed key types do not sort
        return None


@settings(max_examples=1500, deadline=None)
@given(VALUES)
def test_orjson_writes_what_the_stdlib_wrote_or_declines(value: Any) -> None:
    expected = stdlib(value)
    fast = canonical_json_bytes(value)
    if fast is not None:
        assert expected is not None
        assert fast == expected.encode("utf-8")
        # _hash of the bytes is the _hash of the text, as content_hash computes it.
        assert content_hash(fast.decode("utf-8")) == content_hash(expected)
    plain = canonical_json_plain(value)
    if plain is not None:
        assert plain == fast
    if expected is not None:
        assert canonical_json(value) == expected


def test_the_values_orjson_must_decline() -> None:
    for value in ["a\udcffb", 2**64, -(2**63) - 1, {1: "x"}, {None: 1}, TooDeep("[[["), {"a\udcff": 1}]:
        assert canonical_json_bytes([value]) is None, value
    assert canonical_json_bytes({"a": Decimal("1.50")}) == b'{"a":"1.50"}'
    assert canonical_json_plain({"a": Decimal("1.50")}) is None


# --- decoding --------------------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | INTS | st.decimals(allow_nan=False, allow_infinity=False) | TEXT
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(TEXT, inner, max_size=4), max_leaves=25)


def typed(value: Any) -> Any:
    """``value`` with each scalar's type beside it: 1, True and Decimal(1) must not compare equal."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, TooDeep):
        return ("TooDeep", value.text)
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)


def wire(value: Any, style: int) -> bytes:
    """``value`` as a server might send it: compact, spaced or escaped; decimals as numbers."""
    def mark(v: Any) -> Any:
        if isinstance(v, Decimal):
            return f"\x00dec{v}\x00"
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(value), ensure_ascii=style == 0, indent=1 if style == 2 else None)
    for marker in {m for m in text.split('"') if m.startswith(("\\u0000dec", "\x00dec"))}:
        number = marker.replace("\\u0000", "\x00").strip("\x00")[3:]
        text = text.replace(f'"{marker}"', number)
    return text.encode("utf-8", "surrogatepass")


def reference_decode(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="surrogateescape")
    return json.loads(text, parse_float=Decimal, parse_constant=str)


@settings(max_examples=1500, deadline=None)
@given(JSON_VALUES, st.integers(0, 2))
def test_decode_json_builds_what_json_loads_built(value: Any, style: int) -> None:
    body = wire(value, style)
    assert typed(decode_json(body)) == typed(reference_decode(body))


def test_decode_json_edge_documents() -> None:
    bodies = [b'{"a":1.0}', b"[1e400]", b"[-0.0]", b"[18446744073709551616]", b"[-9223372036854775809]",
              b"[NaN, Infinity, -Infinity]", b'["\\ud800"]', b'["\xed\xa0\x80"]', b'{"a":1,"a":2}',
              b"[" * 128 + b"]" * 128, b"[" * 129 + b"]" * 129, b"[" * 300 + b"]" * 300, b" [1] ", b"-0", b"7",
              b'"x"', b"[1.5e3, 2E-2]"]
    for body in bodies:
        assert typed(decode_json(body)) == typed(reference_decode(body)), body
