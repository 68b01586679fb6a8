"""Samtrafiken's client assertion: the audience and algorithm the server was registered with."""

from __future__ import annotations

import pytest
from builders import small_dataset

from recon.config import load_config
from recon.ingest.pull import pull
from recon.sandbox.client_config import config_text, secret_env
from recon.sandbox.keys import generate_key_pair
from recon.sandbox.server import Sandbox, SandboxCredentials


@pytest.fixture(scope="module")
def keys():
    return {"rsa": generate_key_pair(), "ec": generate_key_pair("ec")}


def samtrafiken_pull(tmp_path, monkeypatch, *, key, server_alg, server_audience=None, settings=""):
    private, public = key
    tmp_path.mkdir(parents=True, exist_ok=True)
    creds = SandboxCredentials(samtrafiken_public_key_pem=public, samtrafiken_alg=server_alg,
                               samtrafiken_audience=server_audience)
    dataset = small_dataset(n=3)
    with Sandbox(dataset, credentials=creds) as sandbox:
        for name, value in secret_env(creds, private).items():
            monkeypatch.setenv(name, value)
        path = tmp_path / "recon.toml"
        text = config_text(sandbox.urls(), creds, dataset, lake=tmp_path / "lake")
        path.write_text(text.replace("[samtrafiken]\n", "[samtrafiken]\n" + settings))
        return pull(load_config(path), ["samtrafiken"]).sources[0]


@pytest.mark.parametrize("alg, kind", [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec")])
def test_each_algorithm_signs_what_the_server_accepts(tmp_path, monkeypatch, keys, alg, kind):
    result = samtrafiken_pull(tmp_path, monkeypatch, key=keys[kind], server_alg=alg,
                              settings=f'assertion_alg = "{alg}"\n')
    assert result.ok, result.error
    assert result.records == 3


def test_an_algorithm_the_server_does_not_accept_is_refused_clearly(tmp_path, monkeypatch, keys):
    result = samtrafiken_pull(tmp_path, monkeypatch, key=keys["rsa"], server_alg="ES256")  # recon signs RS256
    assert not result.ok
    assert "HTTP 401" in result.error and "must be signed with ES256" in result.error


def test_a_key_of_the_wrong_kind_for_the_algorithm_is_a_clear_error(tmp_path, monkeypatch, keys):
    result = samtrafiken_pull(tmp_path, monkeypatch, key=keys["rsa"], server_alg="ES256",
                              settings='assertion_alg = "ES256"\n')
    assert not result.ok
    assert result.error.endswith("the private key is not a readable EC (P-256) PEM key for ES256 "
                                 "(samtrafiken.assertion_alg)")


def test_the_audience_can_be_the_issuer_instead_of_the_token_url(tmp_path, monkeypatch, keys):
    issuer = "https://auth.samtrafiken.example"
    refused = samtrafiken_pull(tmp_path / "a", monkeypatch, key=keys["rsa"], server_alg="RS256",
                               server_audience=issuer)
    assert not refused.ok and "HTTP 401" in refused.error
    accepted = samtrafiken_pull(tmp_path / "b", monkeypatch, key=keys["rsa"], server_alg="RS256",
                                server_audience=issuer, settings=f'assertion_audience = "{issuer}"\n')
    assert accepted.ok, accepted.error
