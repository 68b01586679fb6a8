"""Secrets never reach stdout, stderr, the run log or any file under _state, whatever a server echoes.

The sandbox's ``token-echo`` quirk refuses every token request with a body that echoes the whole
request: the Vipps Basic credential (base64 of id:secret) in its headers, the Entur secret in its
JSON body, the Samtrafiken client assertion in its form.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from urllib.parse import quote, quote_plus

import pytest
from builders import small_dataset

from recon.logs import REDACTED, one_line, redact, register_basic_credential, register_secret


def forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


@pytest.mark.parametrize("mode", ["400", "401", "text"])
def test_a_token_endpoint_echoing_the_request_leaks_no_secret(mode, make_setup):
    setup = make_setup(small_dataset(n=3), quirks=f"token-echo={mode}")
    creds = setup.creds
    basic = base64.b64encode(f"{creds.vipps_client_id}:{creds.vipps_client_secret}".encode()).decode()
    secrets = {basic, basic[:24], *setup.secret_values(), creds.vipps_client_secret[6:],
               creds.entur_client_secret[6:]}
    for value in list(secrets):
        secrets |= forms(value)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECON_")}, **setup.env}
    proc = subprocess.run([sys.executable, "-m", "recon.cli", "pull", "--config", str(setup.config_path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 3, proc.stderr
    lake = setup.config().lake
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    for path in [*(lake / "_logs").rglob("*"), *(lake / "_state").rglob("*")]:
        if path.is_file():
            texts[str(path.relative_to(lake))] = path.read_text(encoding="utf-8", errors="replace")
    assert any(name.startswith("_logs/") for name in texts) and any(name.startswith("_state/runs/") for name in texts)
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}... in {name}"
    # Of the refusal only the OAuth error fields are shown: never the echoed headers or body.
    for name in ("stdout", "stderr"):
        assert texts[name].count("token request to") >= 3
        assert "content-type" not in texts[name].lower()
        if mode == "text":
            assert "failed: HTTP 400\n" in texts[name]
        else:
            # The echo is shown as far as error_description goes, with every credential in it redacted.
            assert f"failed: HTTP {mode}: invalid_client; could not authenticate: authorization=" in texts[name]
            assert f"authorization=Basic {REDACTED} body=grant_type=client_credentials" in texts[name]
            assert f'"client_secret":"{REDACTED}"' in texts[name].replace(" ", "")
            assert f"client_assertion={REDACTED}" in texts[name]
    manifest = next(t for n, t in texts.items() if n.startswith("_state/runs/"))
    assert all(not source["ok"] and "token request to" in source["error"]
               for source in json.loads(manifest)["sources"])


def test_a_secret_is_redacted_in_every_encoding_it_is_sent_in():
    secret = 'p@ss/w+rd "q\u00e6" & more'
    register_secret(secret)
    register_basic_credential("client-7", secret)
    basic = base64.b64encode(f"client-7:{secret}".encode()).decode()
    for form in [*forms(secret), json.dumps(secret, ensure_ascii=False)[1:-1], basic]:
        assert redact(f"echo <{form}>") == f"echo <{REDACTED}>", form


def test_one_line_escapes_control_characters_and_line_separators():
    text = "a\nb\rc\td\x1b[2Ke\x7ff\x85g\u2028h\u2029i\x00"
    assert one_line(text) == "a\\nb\\rc\\td\\x1b[2Ke\\x7ff\\x85g\\u2028h\\u2029i\\x00"
    assert len(one_line(text).splitlines()) == 1
