"""recon against hostile or broken servers, over loopback HTTP against the sandbox.

A body dripped a byte at a time, a gzip bomb, a path segment of dots, a problem text that forges
log lines, and a record nested thousands of levels deep: each costs at most its own request or
record, never the run, and never shows up as anything but one clear line.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
import zlib

import httpx
import pytest
from builders import entur_payment, small_dataset, vipps_entry

from recon.config import HttpSettings, parse_config
from recon.errors import ConfigError, FatalSourceError, RetriableSourceError
from recon.ingest.http import Session, decode_json, path_segment
from recon.ingest.pull import PullRequest, pull
from recon.lake.catalog import connect
from recon.lake.store import Lake


def rows(config, sql):
    con = connect(Lake(config.lake))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def with_http(setup, **settings) -> None:
    """Change [http] keys of the setup's recon.toml."""
    text = setup.config_path.read_text()
    for key, value in settings.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        if not n:
            text = text.replace("[http]\n", f"[http]\n{key} = {value}\n", 1)
    setup.config_path.write_text(text)


def data_calls(setup):
    return [c for c in setup.sandbox.requests_log if c["method"] == "GET"]


# --- 1. a deadline over the whole request ---------------------------------------------------------

def test_a_body_dripped_slowly_is_cut_at_the_request_deadline_and_retried(make_setup):
    setup = make_setup(small_dataset(n=10), quirks="slow-body=40")  # a 3 KB page would take ~80 s
    with_http(setup, request_deadline=0.4, max_attempts=2, read_timeout=5)
    config = setup.config()
    assert config.http.request_deadline == 0.4
    t0 = time.monotonic()
    result = pull(config, ["vipps"])
    elapsed = time.monotonic() - t0
    vipps = result.sources[0]
    assert not vipps.ok
    assert "gave up after 2 attempts: timeout (the whole request took longer than http.request_deadline" \
        in vipps.error
    assert vipps.retries == {"timeout": 2}
    assert elapsed < 4, elapsed  # two attempts of 0.4 s, not a read timeout per byte


def test_a_slow_body_within_the_deadline_is_read(make_setup):
    setup = make_setup(small_dataset(n=3, ledgers=("L1",)), quirks="slow-body=200000")
    config = setup.config()
    assert config.http.request_deadline == 120.0  # the default
    result = pull(config, ["vipps"])
    assert result.ok, result.sources[0].error
    assert rows(config, "SELECT count(*) FROM vipps_sales_entries") == [(3,)]


def test_the_new_http_keys_are_validated(tmp_path):
    base = {"lake": {"path": str(tmp_path)}, "vipps": {"client_id": "x", "ledgers": ["L1"]}}
    with pytest.raises(ConfigError) as err:
        parse_config({**base, "http": {"request_deadline": 0, "max_body_bytes": 10}})
    problems = "\n".join(err.value.problems)
    assert "http.request_deadline: must be a number of seconds >= 0.1, got 0" in problems
    assert "http.max_body_bytes: must be a whole number of bytes >= 1_024, got 10" in problems
    config = parse_config({**base, "http": {"request_deadline": 2.5, "max_body_bytes": 4096}})
    assert (config.http.request_deadline, config.http.max_body_bytes) == (2.5, 4096)
    assert HttpSettings().max_body_bytes == 256 * 1024 * 1024


# --- 2. a cap on the decoded body -------------------------------------------------------------------

def test_a_gzip_bomb_fails_the_source_without_being_inflated(make_setup):
    from recon.sandbox.server import _gzip_bomb

    setup = make_setup(small_dataset(n=3), quirks="gzip-bomb=64")
    assert len(_gzip_bomb(64)) < 200_000  # 64 MiB once decoded (built before measuring memory)
    with_http(setup, max_body_bytes=1_048_576)
    config = setup.config()
    tracemalloc.start()
    try:
        result = pull(config, ["vipps"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    vipps = result.sources[0]
    assert not vipps.ok
    assert ("GET /sales/report/v1/ledgers/L1: the response body is larger than http.max_body_bytes "
            "(1_048_576 bytes) once decoded; refusing it") in vipps.error
    assert vipps.retries == {} and len(data_calls(setup)) == 1  # fatal: never asked again
    assert peak < 12 * 1024 * 1024, peak  # the cap and a piece, not the 64 MiB


def test_a_gzip_body_under_the_cap_is_decoded(make_setup):
    setup = make_setup(small_dataset(n=3, ledgers=("L1",)), quirks="gzip-bomb=2")
    result = pull(setup.config(), ["vipps"])
    assert result.ok, result.sources[0].error  # 2 MiB of blanks around an empty, final page
    assert data_calls(setup)[0]["headers"]["accept-encoding"] == "gzip, deflate"


class Chunks(httpx.SyncByteStream):
    """A response body that arrives in pieces, as from a socket (not read ahead by httpx)."""

    def __init__(self, body: bytes, size: int = 16_384) -> None:
        self.body, self.size = body, size

    def __iter__(self):
        for start in range(0, len(self.body), self.size):
            yield self.body[start:start + self.size]


def streamed(body: bytes, **headers: str):
    return lambda request: httpx.Response(200, stream=Chunks(body), headers=headers)


def session(handler, **settings) -> Session:
    defaults = {"max_attempts": 2, "backoff_base": 0.0, "backoff_max": 0.0}
    return Session("t", HttpSettings(**{**defaults, **settings}), transport=httpx.MockTransport(handler),
                   sleep=lambda _: None)


@pytest.mark.parametrize("encoding, pack", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
    ("identity", lambda b: b),
])
def test_each_content_encoding_is_decoded_in_bounded_pieces(encoding, pack):
    doc = {"items": [{"n": i, "text": "x" * 500} for i in range(300)]}
    body = pack(json.dumps(doc).encode())
    roomy = session(streamed(body, **{"Content-Encoding": encoding}))
    small = session(streamed(body, **{"Content-Encoding": encoding}), max_body_bytes=100_000)
    try:
        assert roomy.request_json("GET", "http://api.test/x") == doc
        with pytest.raises(FatalSourceError, match=r"larger than http\.max_body_bytes"):
            small.request_json("GET", "http://api.test/x")
    finally:
        roomy.close()
        small.close()


def test_a_response_already_read_by_its_transport_is_still_capped():
    body = json.dumps({"items": ["x" * 5000]}).encode()
    s = session(lambda request: httpx.Response(200, content=body), max_body_bytes=1024)
    try:
        with pytest.raises(FatalSourceError, match=r"larger than http\.max_body_bytes"):
            s.request_json("GET", "http://api.test/x")
    finally:
        s.close()


@pytest.mark.parametrize("body, why", [
    (gzip.compress(b'{"items": []}', mtime=0)[:10] + b"\xff" * 40, "is corrupt"),  # a reserved block type
    (gzip.compress(b'{"items": []}', mtime=0)[:-12], "ends early"),
])
def test_a_broken_gzip_body_is_retried_as_a_broken_body(body, why):
    s = session(streamed(body, **{"Content-Encoding": "gzip"}))
    try:
        with pytest.raises(RetriableSourceError, match=f"gave up after 2 attempts: response body cannot be "
                                                       f"decoded \\(the compressed body {why}\\)"):
            s.request_json("GET", "http://api.test/x")
    finally:
        s.close()


# --- 3. path segments ----------------------------------------------------------------------------------

def test_path_segment_escapes_dot_segments_and_reserved_characters():
    assert path_segment("..") == "%2E%2E" and path_segment(".") == "%2E"
    assert path_segment("a/b?c#d") == "a%2Fb%3Fc%23d" and path_segment("a b") == "a%20b"
    assert path_segment("v1.2") == "v1.2" and path_segment("...") == "..."  # not dot segments
    assert str(httpx.URL("http://h/x/" + path_segment(".."))) == "http://h/x/%2E%2E"  # not normalised away


@pytest.mark.parametrize("reference", ["..", "."])
def test_a_lookup_of_a_dot_reference_asks_for_that_reference_not_the_feed(reference, make_setup):
    ds = small_dataset(n=5, ledgers=("L1",))
    ds.ledgers["L1"].entries.append(vipps_entry(90, ledger="L1", reference=reference))
    setup = make_setup(ds)
    config = setup.config()
    result = pull(config, ["vipps"], request=PullRequest(vipps_reference=reference))
    assert result.ok, result.sources[0].error
    assert [c["path"] for c in data_calls(setup)] == [
        "/vipps/sales/report/v1/ledgers/L1/references/" + reference.replace(".", "%2E")]
    assert rows(config, "SELECT reference FROM vipps_sales_entries") == [(reference,)]
    assert Lake(config.lake).read_state("vipps", "ledger-L1") is None  # a look-up never moves the feed


def test_recon_pull_reference_dot_dot_over_the_cli(make_setup):
    ds = small_dataset(n=5, ledgers=("L1",))
    ds.ledgers["L1"].entries.append(vipps_entry(90, ledger="L1", reference=".."))
    setup = make_setup(ds)
    proc = run_cli(setup, "pull", "vipps", "--reference", "..")
    assert proc.returncode == 0, proc.stderr
    assert "landed_rows=2" in proc.stdout  # the one entry and its line, not the 5 of the feed
    assert {c["path"].rsplit("/", 2)[-2] for c in data_calls(setup)} == {"references"}


# --- 4. server text on one line ---------------------------------------------------------------------

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) run=\S+ recon[.\w]*: ")


def run_cli(setup, *args):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECON_")}, **setup.env}
    return subprocess.run([sys.executable, "-m", "recon.cli", *args, "--config", str(setup.config_path)],
                          capture_output=True, text=True, env=env, timeout=60)


def test_a_problem_text_that_forges_a_log_line_stays_on_one_line(make_setup):
    setup = make_setup(small_dataset(n=3, ledgers=("L1",)), quirks="forged-problem=400")
    result = pull(setup.config(), ["vipps"])
    error = result.sources[0].error
    assert not result.sources[0].ok and "HTTP 400: Bad Request\\n" in error
    assert len(error.splitlines()) == 1
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", error)

    proc = run_cli(setup, "pull", "vipps")
    assert proc.returncode == 3
    logs = list((setup.config().lake / "_logs").glob("*.log"))
    assert len(logs) == 1
    for text in (proc.stderr, logs[0].read_text(encoding="utf-8")):
        lines = text.splitlines()
        assert any("run finished: 0 exceptions" in line for line in lines)  # shown, escaped, inside a line
        for line in lines:
            if not line.startswith(("recon: error:", "recon: the whole run:")):
                assert LOG_LINE.match(line), line
            assert "run finished" not in line or "HTTP 400" in line, line
    assert not any(line.lstrip().startswith(("run finished", "20")) for line in proc.stdout.splitlines()[1:])


# --- 5. a nesting limit per record ----------------------------------------------------------------

def nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"v": value}
    return value


def test_a_record_nested_5000_deep_is_quarantined_and_the_rest_of_its_page_lands(make_setup):
    ds = small_dataset(n=10, ledgers=("L1",))
    deep = vipps_entry(50, ledger="L1", reference="DEEP")
    deep["metadata"] = nested(5000)
    at_limit = vipps_entry(51, ledger="L1", reference="AT-LIMIT")
    at_limit["metadata"] = nested(63)  # the entry is level 1: 64 levels in all
    over = vipps_entry(52, ledger="L1", reference="OVER")
    over["metadata"] = nested(64)  # 65 levels: json.loads copes, the limit does not
    ds.ledgers["L1"].entries[3:3] = [deep, at_limit, over]
    payment = entur_payment(77)
    payment["metadata"] = nested(5000)
    ds.payments.insert(2, payment)
    setup = make_setup(ds)
    config = setup.config()
    result = pull(config, ["vipps", "entur"])
    assert result.ok, [r.error for r in result.sources]
    assert rows(config, "SELECT count(*) FROM vipps_sales_entries") == [(11,)]  # 10 and AT-LIMIT
    assert rows(config, "SELECT count(*) FROM entur_payments") == [(10,)]
    quarantined = rows(config, "SELECT source, reason_code, record_id, length(raw) FROM quarantine ORDER BY 1, 3")
    assert [q[:3] for q in quarantined] == [
        ("entur", "too_deep", "1077"), ("vipps", "too_deep", "L1-psp-50"), ("vipps", "too_deep", "L1-psp-52")]
    assert all(q[3] < 10_000 for q in quarantined)  # a cut of the record, not 5000 levels
    assert {r.source: r.quarantined for r in result.sources} == {"vipps": 2, "entur": 1}
    # Nothing was retried: the deep page decoded on the first attempt.
    assert all(r.retries == {} for r in result.sources)


def test_decode_json_tolerates_depth_and_keeps_exact_numbers():
    body = ('{"items":[{"a":1.10},' + "[" * 3000 + "]" * 3000 + ',{"b":NaN}],"n":12345678901234567890}').encode()
    doc = decode_json(body)
    assert str(doc["items"][0]["a"]) == "1.10" and doc["items"][2] == {"b": "NaN"}
    assert doc["n"] == 12345678901234567890
