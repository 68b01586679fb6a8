"""Token flows over real HTTP: caching, one refresh on 401, refusals, headers, no secret leaks."""

from __future__ import annotations

import logging
import re

import pytest
from builders import small_dataset

from recon.config import Secret
from recon.ingest.clients import build_clients, secrets_from_env
from recon.ingest.pull import pull


def test_tokens_are_cached_and_refreshed_once_on_401(make_setup):
    setup = make_setup(small_dataset(n=30))
    config = setup.config()
    clients = build_clients(config, ["vipps", "entur", "samtrafiken"], secrets_from_env(config, config.sources()),
                            run_id="t")
    paths = {"vipps": ("/sales/report/v1/ledgers/L1", {"pageSize": 5}),
             "entur": ("/sales/v1/payments", {"page": 1, "perPage": 5}),
             "samtrafiken": ("/bookings/v1/events", {"organizationCode": "RET1", "limit": 5})}
    for name, client in clients.items():
        path, params = paths[name]
        client.get(path, params)
        client.get(path, params)
        assert client.auth.fetched == 1, name  # cached between calls
    setup.sandbox.expire_tokens()
    for name, client in clients.items():
        path, params = paths[name]
        assert client.get(path, params)
        assert client.auth.fetched == 2, name
        assert client.session.retries["401"] == 1
        client.close()
    assert setup.sandbox.stats["unauthorized"] == 3


@pytest.mark.parametrize("source", ["vipps", "entur", "samtrafiken"])
def test_refused_credentials_fail_the_source_without_showing_the_secret(source, make_setup, caplog, capfd,
                                                                        monkeypatch):
    setup = make_setup(small_dataset(n=3))
    wrong = "wrong-" + "x" * 20
    if source == "samtrafiken":
        from recon.sandbox.keys import generate_key_pair

        wrong = generate_key_pair()[0]  # a valid key the server does not know
    env_name = {"vipps": "RECON_VIPPS_CLIENT_SECRET", "entur": "RECON_ENTUR_CLIENT_SECRET",
                "samtrafiken": "RECON_SAMTRAFIKEN_PRIVATE_KEY"}[source]
    monkeypatch.setenv(env_name, wrong)
    caplog.set_level(logging.DEBUG)
    result = pull(setup.config(), [source])
    assert not result.ok
    err = result.sources[0].error
    # "<source>: token request to <url> failed: HTTP <status>: <OAuth error>; <description>"
    parsed = re.match(r"(\w+): token request to (\S+) failed: HTTP (\d+): (\w+); ", err)
    assert parsed, err
    oauth_error = {"vipps": "invalid_client", "entur": "access_denied", "samtrafiken": "invalid_client"}[source]
    assert parsed.groups() == (source, setup.sandbox.urls()[f"{source}_token_url"], "401", oauth_error)
    out, errout = capfd.readouterr()
    body = "".join(wrong.strip().splitlines()[1:-1])[:40] if source == "samtrafiken" else wrong
    for text in (err, caplog.text, out, errout):
        assert body not in text


def test_a_key_that_is_not_pem_is_a_clear_error(make_setup, monkeypatch):
    setup = make_setup(small_dataset(n=3))
    monkeypatch.setenv("RECON_SAMTRAFIKEN_PRIVATE_KEY", "not-a-key-but-secret-material")
    result = pull(setup.config(), ["samtrafiken"])
    url = setup.sandbox.urls()["samtrafiken_token_url"]
    assert result.sources[0].error == (f"samtrafiken: token request to {url} failed: "
                                       "the private key is not a readable RSA PEM key for RS256 "
                                       "(samtrafiken.assertion_alg)")
    assert "secret-material" not in result.sources[0].error


def test_secret_repr_never_shows_the_value():
    s = Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"


def test_each_api_gets_its_headers(make_setup):
    setup = make_setup(small_dataset(n=15))
    config = setup.config()
    assert pull(config).ok
    first = [r for r in setup.sandbox.requests_log if r["method"] == "GET"]
    assert pull(config).ok
    second = [r for r in setup.sandbox.requests_log if r["method"] == "GET"][len(first):]
    entur1 = [r["headers"] for r in first if r["path"].startswith("/entur/")]
    entur2 = [r["headers"] for r in second if r["path"].startswith("/entur/")]
    assert entur1 and entur2, "both runs call Entur"
    assert all(h["et-client-name"] == "acme-recon" and h["entur-pos"] == "recon-test" for h in entur1)
    # One correlation id for every call of a run, a new one for the next run.
    assert len({h["x-correlation-id"] for h in entur1}) == 1
    assert {h["x-correlation-id"] for h in entur1}.isdisjoint({h["x-correlation-id"] for h in entur2})
    vipps = [r["headers"] for r in first if r["path"].startswith("/vipps/")]
    assert vipps, "the run calls Vipps"
    assert all(h["vipps-system-name"] == "recon" and "vipps-system-version" in h for h in vipps)
    assert all(h["authorization"] == "<redacted>" for h in vipps)
    token_calls = [r for r in setup.sandbox.requests_log if r["path"].endswith("/miami/v1/token")]
    assert token_calls and all("ocp-apim-subscription-key" not in r["headers"] for r in token_calls)


def test_secrets_never_reach_the_lake_or_the_logs(make_setup, caplog, capfd):
    setup = make_setup(small_dataset(n=8), faults="500@2")
    caplog.set_level(logging.DEBUG)
    config = setup.config()
    assert pull(config).ok
    out, err = capfd.readouterr()
    files = [path for path in config.lake.rglob("*") if path.is_file()]
    assert any(path.suffix == ".parquet" for path in files) and caplog.text
    for secret in setup.secret_values():
        assert secret not in caplog.text + out + err
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
