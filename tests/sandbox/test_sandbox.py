"""The sandbox over real HTTP (httpx on loopback): auth, paging, filters, faults, robustness."""

from __future__ import annotations

import base64
import copy
import email.utils
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from recon.sandbox.dataset import Dataset, Ledger
from recon.sandbox.faults import parse_faults
from recon.sandbox.keys import sandbox_private_key_pem, sandbox_public_key_pem
from recon.sandbox.server import Sandbox, SandboxCredentials

CREDS = SandboxCredentials()
LEDGER_PATH = "/sales/report/v1/ledgers/L1"


# ---------------------------------------------------------------------------------------------
# A small hand-built dataset


def _entry(time_: str, reference: str, psp: str | None, entry_type: str = "capture") -> dict[str, Any]:
    return {"entryType": entry_type, "time": time_, "pspReference": psp, "reference": reference,
            "currency": "NOK", "paymentType": "WALLET" if psp else "CASH",
            "amounts": {"gross": 1000, "net": 800, "vat": 200}, "lines": []}


ENTRIES = [
    _entry("2026-04-19T10:00:00Z", "O1", "P1"),
    _entry("2026-04-19T21:30:00Z", "O2", "P2"),  # 23:30 in Oslo: still the 19th
    _entry("2026-04-19T22:30:00Z", "O3", "P3"),  # 00:30 in Oslo: the 20th
    _entry("2026-04-20T08:00:00Z", "O1", "P4", "refund"),
    _entry("2026-04-20T09:00:00Z", "O5", None),  # cash: no pspReference
    _entry("yesterday", "O6", "P6"),  # malformed on purpose: in no date
    _entry("2026-04-21T09:00:00Z", "O7", "P7"),
]

PAYMENTS = [
    {"paymentId": 3, "orderId": "O3", "createdAt": "2026-03-03T10:00:00Z", "totalAmount": "30.00",
     "transactionHistory": [{"transactionId": 31, "status": "CAPTURED", "paymentType": "VIPPS",
                             "externalTransactionId": "P3"}]},
    {"paymentId": 10, "orderId": "O10", "createdAt": "2026-03-01T10:00:00Z",
     "updatedAt": "2026-03-05T10:00:00Z", "totalAmount": "100.00",
     "transactions": [{"transactionId": 101, "status": "CAPTURED", "paymentType": "VISA"}]},
    {"paymentId": 1, "orderId": "O1", "createdAt": "2026-03-01T09:00:00Z", "totalAmount": "10.00",
     "transactionHistory": [{"transactionId": 11, "status": "INITIATED", "paymentType": "VIPPS"},
                            {"transactionId": 12, "status": "CAPTURED", "paymentType": "VIPPS"}]},
    {"paymentId": 2, "orderId": "O2", "createdAt": "2026-03-02T00:00:00+01:00",  # 03-01T23:00Z
     "totalAmount": "20.00", "transactionHistory": [{"transactionId": 21, "status": "CANCELLED"}]},
    {"paymentId": 5, "orderId": "O5", "createdAt": "2026-03-04T10:00:00Z", "totalAmount": "5.00",
     "transactionHistory": [{"transactionId": 51, "status": "CAPTURED", "paymentType": "VIPPS"}]},
]

CREDITS = [
    {"creditId": 2, "orderId": "O3", "status": "CREDITED", "createdAt": "2026-03-06T10:00:00Z",
     "totalCreditAmount": "10.00",
     "creditTransactions": [{"transactionId": 901, "paymentTransactionId": 31,
                             "reimbursementMethod": "VIPPS", "amount": "10.00"}]},
    {"creditId": 1, "orderId": "O10", "status": "CREATED", "createdAt": "2026-03-02T10:00:00Z",
     "totalCreditAmount": "5.00",
     "creditTransactions": [{"transactionId": 902, "paymentTransactionId": 101,
                             "reimbursementMethod": "VISA", "amount": "5.00"}]},
]


def _event(event_id: str, event_time: str, status: str = "FULFILLED") -> dict[str, Any]:
    return {"eventId": event_id, "eventTime": event_time, "bookingId": "B-" + event_id,
            "status": status, "organizationCode": "RET1", "totalPrice": "349.00"}


EVENTS = [
    _event("e1", "2026-05-01T10:00:00Z"),
    _event("e2", "2026-05-01T09:00:00Z"),  # out of order on purpose
    _event("e1", "2026-05-01T10:00:00Z"),  # at-least-once: a duplicate
    _event("e3", "2026-05-02T10:00:00Z", "REFUNDED"),
    _event("e4", "2026-05-03T10:00:00Z", "CANCELLED"),
]


def make_dataset() -> Dataset:
    return Dataset(
        ledgers={"L1": Ledger("L1", "NOK", "Europe/Oslo", copy.deepcopy(ENTRIES)),
                 "BADZONE": Ledger("BADZONE", "NOK", "Not/AZone", copy.deepcopy(ENTRIES[:1]))},
        payments=copy.deepcopy(PAYMENTS),
        credits=copy.deepcopy(CREDITS),
        organization_code="RET1",
        events=copy.deepcopy(EVENTS),
    )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(make_dataset()) as sb:
        yield sb


# ---------------------------------------------------------------------------------------------
# Token helpers


def vipps_token(sb: Sandbox) -> str:
    r = httpx.post(sb.urls()["vipps_token_url"], auth=(CREDS.vipps_client_id, CREDS.vipps_client_secret),
                   data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def entur_token(sb: Sandbox) -> str:
    r = httpx.post(sb.urls()["entur_token_url"], json={
        "client_id": CREDS.entur_client_id, "client_secret": CREDS.entur_client_secret,
        "audience": CREDS.entur_audience, "grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def assertion(aud: str, *, key_pem: str | None = None, alg: str = "RS256", omit: tuple[str, ...] = (),
              **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": CREDS.samtrafiken_client_id, "sub": CREDS.samtrafiken_client_id,
                              "aud": aud, "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    for name in omit:
        claims.pop(name)
    headers = {"kid": overrides.pop("kid", None) or CREDS.samtrafiken_kid}
    claims.pop("kid", None)
    return jwt.encode(claims, key_pem or sandbox_private_key_pem(), algorithm=alg, headers=headers)


def samtrafiken_form(client_assertion: str) -> dict[str, str]:
    return {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion, "scope": "bookings:read"}


def samtrafiken_token(sb: Sandbox) -> str:
    url = sb.urls()["samtrafiken_token_url"]
    r = httpx.post(url, data=samtrafiken_form(assertion(url)))
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def vipps_client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.urls()["vipps_base"],
                        headers={"Authorization": "Bearer " + vipps_token(sb)})


def entur_client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.urls()["entur_base"],
                        headers={"Authorization": "Bearer " + entur_token(sb),
                                 "ET-Client-Name": "acme-recon"})


def samtrafiken_client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.urls()["samtrafiken_base"],
                        headers={"Authorization": "Bearer " + samtrafiken_token(sb)})


# ---------------------------------------------------------------------------------------------
# Token endpoints


def test_urls_and_credentials(sandbox: Sandbox) -> None:
    urls = sandbox.urls()
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert urls == {
        "vipps_base": sandbox.url + "/vipps",
        "vipps_token_url": sandbox.url + "/vipps/miami/v1/token",
        "entur_base": sandbox.url + "/entur",
        "entur_token_url": sandbox.url + "/entur/oauth/token",
        "samtrafiken_base": sandbox.url + "/samtrafiken",
        "samtrafiken_token_url": sandbox.url + "/samtrafiken/oauth/token",
    }
    assert CREDS.samtrafiken_public_key_pem == sandbox_public_key_pem()
    assert "BEGIN PUBLIC KEY" in CREDS.samtrafiken_public_key_pem


def test_vipps_token_accepts_the_right_request(sandbox: Sandbox) -> None:
    r = httpx.post(sandbox.urls()["vipps_token_url"],
                   auth=(CREDS.vipps_client_id, CREDS.vipps_client_secret),
                   data={"grant_type": "client_credentials"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert isinstance(body["expires_in"], int) and body["access_token"]
    assert sandbox.stats["tokens_issued"] == 1


@pytest.mark.parametrize("variant", ["wrong_secret", "no_auth", "no_grant", "wrong_grant", "subscription_key"])
def test_vipps_token_refusals(sandbox: Sandbox, variant: str) -> None:
    auth: Any = (CREDS.vipps_client_id, CREDS.vipps_client_secret)
    data = {"grant_type": "client_credentials"}
    headers = {}
    if variant == "wrong_secret":
        auth = (CREDS.vipps_client_id, "nope")
    elif variant == "no_auth":
        auth = None
    elif variant == "no_grant":
        data = {}
    elif variant == "wrong_grant":
        data = {"grant_type": "password"}
    elif variant == "subscription_key":
        headers = {"Ocp-Apim-Subscription-Key": "abc"}
    r = httpx.post(sandbox.urls()["vipps_token_url"], auth=auth, data=data, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert sandbox.stats["tokens_issued"] == 0


def test_entur_token_accepts_the_right_request(sandbox: Sandbox) -> None:
    r = httpx.post(sandbox.urls()["entur_token_url"], json={
        "client_id": CREDS.entur_client_id, "client_secret": CREDS.entur_client_secret,
        "audience": CREDS.entur_audience, "grant_type": "client_credentials"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400 and body["access_token"]


@pytest.mark.parametrize(("variant", "status", "error"), [
    ("wrong_secret", 401, "access_denied"), ("wrong_audience", 401, "access_denied"),
    ("no_grant", 400, "invalid_request"), ("not_json", 400, "invalid_request"), ("form_body", 400, "invalid_request"),
])
def test_entur_token_refusals(sandbox: Sandbox, variant: str, status: int, error: str) -> None:
    doc = {"client_id": CREDS.entur_client_id, "client_secret": CREDS.entur_client_secret,
           "audience": CREDS.entur_audience, "grant_type": "client_credentials"}
    url = sandbox.urls()["entur_token_url"]
    if variant == "wrong_secret":
        r = httpx.post(url, json={**doc, "client_secret": "nope"})
    elif variant == "wrong_audience":
        r = httpx.post(url, json={**doc, "audience": "https://api.entur.io"})
    elif variant == "no_grant":
        r = httpx.post(url, json={k: v for k, v in doc.items() if k != "grant_type"})
    elif variant == "not_json":
        r = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    else:
        r = httpx.post(url, data=doc)
    assert (r.status_code, r.json()["error"]) == (status, error)
    assert r.json()["error_description"]
    assert sandbox.stats["tokens_issued"] == 0


def test_samtrafiken_token_accepts_a_valid_assertion_once(sandbox: Sandbox) -> None:
    url = sandbox.urls()["samtrafiken_token_url"]
    signed = assertion(url)
    r = httpx.post(url, data=samtrafiken_form(signed))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["access_token"]
    replay = httpx.post(url, data=samtrafiken_form(signed))
    assert replay.status_code == 401
    assert replay.json() == {"error": "invalid_client", "error_description": "jti has already been used"}
    assert signed not in replay.text


def test_samtrafiken_token_accepts_aud_as_the_request_reached_it(sandbox: Sandbox) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/samtrafiken/oauth/token"
    r = httpx.post(url, data=samtrafiken_form(assertion(url)))
    assert r.status_code == 200, r.text


def _other_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("variant", [
    "expired", "too_long", "wrong_kid", "wrong_aud", "wrong_iss", "wrong_sub", "no_jti",
    "hs256", "other_key", "not_a_jwt", "wrong_grant", "wrong_assertion_type", "no_assertion",
])
def test_samtrafiken_token_refusals(sandbox: Sandbox, variant: str) -> None:
    # A malformed request is 400 invalid_grant; an assertion that does not authenticate, 401 invalid_client.
    status, error = ((400, "invalid_grant") if variant in ("wrong_grant", "wrong_assertion_type", "no_assertion")
                     else (401, "invalid_client"))
    url = sandbox.urls()["samtrafiken_token_url"]
    now = int(time.time())
    form = samtrafiken_form(assertion(url))
    if variant == "expired":
        form = samtrafiken_form(assertion(url, iat=now - 400, exp=now - 200))
    elif variant == "too_long":
        form = samtrafiken_form(assertion(url, exp=now + 600))
    elif variant == "wrong_kid":
        form = samtrafiken_form(assertion(url, kid="other-key"))
    elif variant == "wrong_aud":
        form = samtrafiken_form(assertion("https://example.invalid/oauth/token"))
    elif variant == "wrong_iss":
        form = samtrafiken_form(assertion(url, iss="someone-else"))
    elif variant == "wrong_sub":
        form = samtrafiken_form(assertion(url, sub="someone-else"))
    elif variant == "no_jti":
        form = samtrafiken_form(assertion(url, omit=("jti",)))
    elif variant == "hs256":
        form = samtrafiken_form(assertion(url, key_pem="a-shared-secret-of-at-least-32-bytes!!", alg="HS256"))
    elif variant == "other_key":
        form = samtrafiken_form(assertion(url, key_pem=_other_key_pem()))
    elif variant == "not_a_jwt":
        form = samtrafiken_form("not.a.jwt")
    elif variant == "wrong_grant":
        form["grant_type"] = "authorization_code"
    elif variant == "wrong_assertion_type":
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    elif variant == "no_assertion":
        del form["client_assertion"]
    r = httpx.post(url, data=form)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["error_description"]
    if form.get("client_assertion"):
        assert form["client_assertion"] not in r.text
    assert sandbox.stats["tokens_issued"] == 0


def test_token_endpoints_want_post(sandbox: Sandbox) -> None:
    r = httpx.get(sandbox.urls()["vipps_token_url"])
    assert r.status_code == 405 and r.headers["allow"] == "POST"


# ---------------------------------------------------------------------------------------------
# Bearer tokens on data calls


def test_data_calls_need_a_valid_token_of_their_own_api(sandbox: Sandbox) -> None:
    url = sandbox.urls()["vipps_base"] + LEDGER_PATH
    r = httpx.get(url)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401
    assert httpx.get(url, headers={"Authorization": "Bearer forged"}).status_code == 401
    token = vipps_token(sandbox)
    assert httpx.get(url, headers={"Authorization": token}).status_code == 401  # no "Bearer"
    assert httpx.get(url, headers={"Authorization": "Bearer " + token}).status_code == 200
    # a Vipps token is no Entur token
    r = httpx.get(sandbox.urls()["entur_base"] + "/sales/v1/payments",
                  headers={"Authorization": "Bearer " + token, "ET-Client-Name": "acme-recon"})
    assert r.status_code == 401
    assert set(r.json()) == {"path", "error", "status", "message", "timestamp"}
    assert sandbox.stats["unauthorized"] == 4


def test_expire_tokens_forces_a_refresh(sandbox: Sandbox) -> None:
    with vipps_client(sandbox) as vipps, entur_client(sandbox) as entur, \
            samtrafiken_client(sandbox) as samtrafiken:
        assert vipps.get(LEDGER_PATH).status_code == 200
        assert entur.get("/sales/v1/payments").status_code == 200
        assert samtrafiken.get("/bookings/v1/events", params={"organizationCode": "RET1"}).status_code == 200
        sandbox.expire_tokens()
        assert vipps.get(LEDGER_PATH).status_code == 401
        assert entur.get("/sales/v1/payments").status_code == 401
        assert samtrafiken.get("/bookings/v1/events", params={"organizationCode": "RET1"}).status_code == 401
    with vipps_client(sandbox) as fresh:
        assert fresh.get(LEDGER_PATH).status_code == 200


def test_requests_log_redacts_secrets(sandbox: Sandbox) -> None:
    with vipps_client(sandbox) as vipps:
        vipps.get(LEDGER_PATH, params={"pageSize": 2}, headers={"Vipps-System-Name": "recon"})
    token_entry, data_entry = sandbox.requests_log
    assert token_entry["method"] == "POST" and token_entry["headers"]["authorization"] == "<redacted>"
    assert data_entry == {"method": "GET", "path": "/vipps" + LEDGER_PATH, "query": {"pageSize": "2"},
                          "headers": data_entry["headers"]}
    assert data_entry["headers"]["authorization"] == "<redacted>"
    assert data_entry["headers"]["vipps-system-name"] == "recon"
    assert sandbox.stats["requests"] == 2 and sandbox.stats["data_requests"] == 1


# ---------------------------------------------------------------------------------------------
# Vipps Sales API


def _feed(client: httpx.Client, path: str, page_size: int, cursor: str | None = None
          ) -> tuple[list[dict[str, Any]], str, int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        params: dict[str, Any] = {"pageSize": page_size}
        if cursor:
            params["cursor"] = cursor
        r = client.get(path, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        items += body["items"]
        cursor = body["cursor"]
        base64.b64decode(cursor, validate=True)  # opaque, but base64
        if not body["hasMore"]:
            return items, cursor, pages


def test_vipps_feed_pages_to_the_end_and_resumes_after_append(sandbox: Sandbox) -> None:
    with vipps_client(sandbox) as vipps:
        r = vipps.get(LEDGER_PATH)
        assert r.headers["content-type"] == "application/json"
        assert len(r.json()["items"]) == 7 and r.json()["hasMore"] is False  # default pageSize 100
        items, cursor, pages = _feed(vipps, LEDGER_PATH, 3)
        assert items == ENTRIES and pages == 3  # verbatim, malformed record included
        again = vipps.get(LEDGER_PATH, params={"cursor": cursor}).json()
        assert again == {"items": [], "cursor": cursor, "hasMore": False}
        appended = _entry("2026-04-21T12:00:00Z", "O8", "P8")
        sandbox.dataset.ledgers["L1"].entries.append(appended)
        items, cursor2, _ = _feed(vipps, LEDGER_PATH, 3, cursor)
        assert items == [appended] and cursor2 != cursor


@pytest.mark.parametrize("params", [{"pageSize": 0}, {"pageSize": 1001}, {"pageSize": "ten"},
                                    {"cursor": "!!not base64!!"}, {"cursor": "AAAA"}])
def test_vipps_feed_rejects_bad_parameters(sandbox: Sandbox, params: dict[str, Any]) -> None:
    with vipps_client(sandbox) as vipps:
        r = vipps.get(LEDGER_PATH, params=params)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"


def test_vipps_unknown_ledger_and_unknown_path(sandbox: Sandbox) -> None:
    with vipps_client(sandbox) as vipps:
        r = vipps.get("/sales/report/v1/ledgers/NOPE")
        assert r.status_code == 404 and r.json()["title"] == "No such ledgerId"
        r = vipps.get("/sales/report/v2/whatever")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert httpx.get(sandbox.url + "/").status_code == 404


def test_vipps_dates_use_the_ledger_time_zone(sandbox: Sandbox) -> None:
    with vipps_client(sandbox) as vipps:
        day19 = vipps.get(LEDGER_PATH + "/dates/2026-04-19").json()
        assert [e["pspReference"] for e in day19["items"]] == ["P1", "P2"]
        assert day19["hasMore"] is False
        items, cursor, pages = _feed(vipps, LEDGER_PATH + "/dates/2026-04-20", 2)
        assert [e["reference"] for e in items] == ["O3", "O1", "O5"] and pages == 2
        assert vipps.get(LEDGER_PATH + "/dates/2026-04-22").json()["items"] == []
        # resume the date from its end cursor after a late entry for that date
        late = _entry("2026-04-20T20:00:00Z", "O9", "P9")
        sandbox.dataset.ledgers["L1"].entries.append(late)
        assert _feed(vipps, LEDGER_PATH + "/dates/2026-04-20", 2, cursor)[0] == [late]
        for bad in ("2026-13-01", "20260419", "yesterday"):
            assert vipps.get(LEDGER_PATH + "/dates/" + bad).status_code == 400


def test_vipps_reference_and_psp_reference(sandbox: Sandbox) -> None:
    with vipps_client(sandbox) as vipps:
        body = vipps.get(LEDGER_PATH + "/references/O1").json()
        assert [e["pspReference"] for e in body["items"]] == ["P1", "P4"] and body["hasMore"] is False
        body = vipps.get(LEDGER_PATH + "/psp-references/P3").json()
        assert [e["reference"] for e in body["items"]] == ["O3"]
        assert vipps.get(LEDGER_PATH + "/psp-references/none").json()["items"] == []


# ---------------------------------------------------------------------------------------------
# Entur Sales API


def _ids(client: httpx.Client, resource: str, **params: Any) -> list[int]:
    r = client.get(f"/sales/v1/{resource}", params={"perPage": 100, **params})
    assert r.status_code == 200, r.text
    return [item["paymentId" if resource == "payments" else "creditId"] for item in r.json()["items"]]


def test_entur_paging(sandbox: Sandbox) -> None:
    with entur_client(sandbox) as entur:
        r = entur.get("/sales/v1/payments", params={"perPage": 2})
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["totalItems"] == 5 and body["totalPages"] == 3
        pages = [entur.get("/sales/v1/payments", params={"perPage": 2, "page": p}).json()["items"]
                 for p in (1, 2, 3)]
        assert [[p["paymentId"] for p in page] for page in pages] == [[1, 2], [3, 5], [10]]
        past = entur.get("/sales/v1/payments", params={"perPage": 2, "page": 4}).json()
        assert past == {"items": [], "totalItems": 5, "totalPages": 3}
        assert entur.get("/sales/v1/payments").json()["totalPages"] == 1  # default perPage 20
        assert entur.get("/sales/v1/payments", params={"page": 0}).status_code == 400
        assert entur.get("/sales/v1/payments", params={"perPage": 0}).status_code == 400
        assert _ids(entur, "credits") == [1, 2]


def test_entur_page_base_and_per_page_cap() -> None:
    with Sandbox(make_dataset(), entur_page_base=0, entur_max_per_page=3) as sb, entur_client(sb) as entur:
        first = entur.get("/sales/v1/payments", params={"page": 0, "perPage": 100}).json()
        assert [p["paymentId"] for p in first["items"]] == [1, 2, 3]
        assert first["totalPages"] == 2
        second = entur.get("/sales/v1/payments", params={"page": 1, "perPage": 100}).json()
        assert [p["paymentId"] for p in second["items"]] == [5, 10]


def test_entur_needs_client_name(sandbox: Sandbox) -> None:
    with entur_client(sandbox) as entur:
        r = entur.get("/sales/v1/payments", headers={"ET-Client-Name": ""})
    assert r.status_code == 403
    body = r.json()
    assert set(body) == {"path", "error", "status", "message", "timestamp"} and body["status"] == 403


def test_entur_filters(sandbox: Sandbox) -> None:
    with entur_client(sandbox) as entur:
        # updatedAt falls back to createdAt; instants, not strings
        assert _ids(entur, "payments", updatedAt="gte:2026-03-03T00:00:00Z") == [3, 5, 10]
        assert _ids(entur, "payments", createdAt="gte:2026-03-02T00:00:00Z") == [3, 5]
        assert _ids(entur, "payments", createdAt="lt:2026-03-02T00:00:00+01:00") == [1, 10]
        assert _ids(entur, "payments", createdAt="2026-03-01T09:00:00Z") == [1]  # bare = eq
        # transaction-level fields: any transaction matches; repeated parameters AND together
        assert _ids(entur, "payments", status="CAPTURED") == [1, 3, 5, 10]
        assert _ids(entur, "payments", status="eq:CAPTURED", paymentType="VISA") == [10]
        assert _ids(entur, "payments", status="ne:CAPTURED") == [1, 2]
        assert _ids(entur, "payments", status="in:CANCELLED,INITIATED") == [1, 2]
        assert _ids(entur, "payments", externalTransactionId="P3") == [3]
        assert _ids(entur, "payments", paymentTransactionId="101") == [10]
        r = entur.get("/sales/v1/payments", params=[("status", "CAPTURED"), ("status", "ne:CANCELLED"),
                                                     ("paymentType", "nin:VISA")])
        assert [p["paymentId"] for p in r.json()["items"]] == [1, 3, 5]
        # numbers compare numerically
        assert _ids(entur, "payments", paymentId="gt:3") == [5, 10]
        assert _ids(entur, "payments", paymentId="in:1,10") == [1, 10]
        assert _ids(entur, "payments", totalAmount="gte:20") == [2, 3, 10]
        # an undocumented field no record has is ignored; filtered totals follow the filter
        assert _ids(entur, "payments", someFutureField="x") == [1, 2, 3, 5, 10]
        body = entur.get("/sales/v1/payments", params={"status": "CAPTURED", "perPage": 3}).json()
        assert body["totalItems"] == 4 and body["totalPages"] == 2
        # credits: top-level status, transaction-level method, credited payment transaction
        assert _ids(entur, "credits", status="CREDITED") == [2]
        assert _ids(entur, "credits", reimbursementMethod="VIPPS") == [2]
        assert _ids(entur, "credits", transactionId="31") == [2]
        assert _ids(entur, "credits", updatedAt="gte:2026-03-05T00:00:00Z") == [2]
        # malformed filter values
        for params in ({"createdAt": "gte:notadate"}, {"updatedAt": "lt:"}, {"paymentId": "abc"}):
            r = entur.get("/sales/v1/payments", params=params)
            assert r.status_code == 400 and r.json()["status"] == 400


def test_entur_sees_in_place_edits_and_appends(sandbox: Sandbox) -> None:
    with entur_client(sandbox) as entur:
        assert _ids(entur, "payments", updatedAt="gte:2026-04-01T00:00:00Z") == []
        sandbox.dataset.payments[0]["updatedAt"] = "2026-04-02T00:00:00Z"  # paymentId 3
        sandbox.dataset.payments.append({"paymentId": 4, "createdAt": "2026-04-03T00:00:00Z",
                                         "transactionHistory": []})
        assert _ids(entur, "payments", updatedAt="gte:2026-04-01T00:00:00Z") == [3, 4]
        assert _ids(entur, "payments") == [1, 2, 3, 4, 5, 10]


# ---------------------------------------------------------------------------------------------
# Samtrafiken Bookings API


def _events(client: httpx.Client, limit: int, after: str | None = None, **params: Any
            ) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    while True:
        query = {"organizationCode": "RET1", "limit": limit, **params}
        if after:
            query["after"] = after
        r = client.get("/bookings/v1/events", params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["events"]
        after = body["nextCursor"]
        if not body["hasMore"]:
            return items, after


def test_samtrafiken_feed_serves_verbatim_and_resumes(sandbox: Sandbox) -> None:
    with samtrafiken_client(sandbox) as sam:
        items, cursor = _events(sam, 2)
        assert items == EVENTS  # duplicates and out-of-order eventTime as they are
        late = _event("e5", "2026-05-04T10:00:00Z")
        sandbox.dataset.events.append(late)
        assert _events(sam, 2, cursor)[0] == [late]
        window, _ = _events(sam, 1, fromTime="2026-05-01T09:30:00Z", toTime="2026-05-02T12:00:00Z")
        assert [e["eventId"] for e in window] == ["e1", "e1", "e3"]
        r = sam.get("/bookings/v1/events", params={"organizationCode": "RET1"})
        assert len(r.json()["events"]) == 6  # default limit 100


@pytest.mark.parametrize(("params", "status"), [
    ({}, 400),
    ({"organizationCode": "OTHER"}, 403),
    ({"organizationCode": "RET1", "limit": 0}, 400),
    ({"organizationCode": "RET1", "limit": 1001}, 400),
    ({"organizationCode": "RET1", "after": "***"}, 400),
    ({"organizationCode": "RET1", "fromTime": "soon"}, 400),
])
def test_samtrafiken_refusals(sandbox: Sandbox, params: dict[str, Any], status: int) -> None:
    with samtrafiken_client(sandbox) as sam:
        r = sam.get("/bookings/v1/events", params=params)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"


# ---------------------------------------------------------------------------------------------
# Faults


@pytest.mark.parametrize("spec", ["bogus:0.1", "429:2", "429:-0.1", "500@0", "500@x", "seed=x",
                                  "429", "foo=1", "429:0.6,500:0.6", "500@1,429@1", "slow=-1",
                                  "retry_after=0.5"])
def test_bad_fault_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        parse_faults(spec)
    with pytest.raises(ValueError):
        Sandbox(make_dataset(), faults=spec)


def test_fault_spec_parsing() -> None:
    spec = parse_faults(" 429:0.1, 500:0.05 ,truncate@2+5, seed=7, retry_after=3, slow=0.5,")
    assert spec.rates == (("429", 0.1), ("500", 0.05))
    assert dict(spec.at) == {2: "truncate", 5: "truncate"}
    assert (spec.seed, spec.retry_after, spec.slow) == (7, 3, 0.5)
    assert parse_faults(None).empty and parse_faults("").empty


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("429date", 429), ("429bare", 429),
                                              ("500", 500), ("503", 503)])
def test_status_faults(kind: str, status: int) -> None:
    with Sandbox(make_dataset(), faults=f"{kind}@2,retry_after=2") as sb, vipps_client(sb) as vipps:
        assert vipps.get(LEDGER_PATH).status_code == 200
        before = datetime.now(UTC).replace(microsecond=0)
        r = vipps.get(LEDGER_PATH)
        after = datetime.now(UTC)
        assert r.status_code == status
        assert r.headers["content-type"] == "application/problem+json"
        retry_after = r.headers.get("retry-after")
        if kind in ("429", "503"):
            assert retry_after == "2"
        elif kind == "429date":
            # retry_after seconds after the moment the server answered (an HTTP date: whole seconds),
            # and that moment lies between `before` and `after`, however long the request took.
            when = email.utils.parsedate_to_datetime(retry_after)
            assert before + timedelta(seconds=2) <= when <= after + timedelta(seconds=2)
        else:
            assert retry_after is None
        assert vipps.get(LEDGER_PATH).status_code == 200
        assert sb.stats[f"fault_{kind}"] == 1 and sb.stats["data_requests"] == 3


def test_faults_never_hit_token_endpoints() -> None:
    with Sandbox(make_dataset(), faults="500:1") as sb:
        with vipps_client(sb) as vipps, entur_client(sb) as entur:
            assert vipps.get(LEDGER_PATH).status_code == 500
            assert entur.get("/sales/v1/payments").status_code == 500
        assert sb.stats["tokens_issued"] == 2 and sb.stats["fault_500"] == 2


def test_rate_faults_are_deterministic_per_seed() -> None:
    def run() -> list[int]:
        with Sandbox(make_dataset(), faults="429:0.3,500:0.2,seed=11") as sb, vipps_client(sb) as vipps:
            return [vipps.get(LEDGER_PATH).status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert {200, 429, 500} <= set(first)


def test_slow_fault() -> None:
    with Sandbox(make_dataset(), faults="slow@1+3,slow=0.5") as sb, vipps_client(sb) as vipps:
        # A slowed request holds its answer back: a client read timeout of a fraction of the delay fires.
        with pytest.raises(httpx.ReadTimeout):
            vipps.get(LEDGER_PATH, timeout=httpx.Timeout(5.0, read=0.1))
        assert vipps.get(LEDGER_PATH).json()["items"] == ENTRIES  # 2: not slowed
        assert vipps.get(LEDGER_PATH).json()["items"] == ENTRIES  # 3: slowed, then answered normally
        assert sb.stats["fault_slow"] == 2 and sb.stats["data_requests"] == 3


def test_truncate_fault() -> None:
    with Sandbox(make_dataset(), faults="truncate@1") as sb, vipps_client(sb) as vipps:
        r = vipps.get(LEDGER_PATH)
        assert r.status_code == 200
        assert int(r.headers["content-length"]) == len(r.content)
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)
        full = vipps.get(LEDGER_PATH)  # the keep-alive connection is still in step
        assert full.json()["items"] == ENTRIES
        assert r.content == full.content[: len(full.content) // 2]
        assert sb.stats["fault_truncate"] == 1


def test_drop_fault() -> None:
    with Sandbox(make_dataset(), faults="drop@1") as sb, vipps_client(sb) as vipps:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            vipps.get(LEDGER_PATH)
        assert vipps.get(LEDGER_PATH).status_code == 200
        assert sb.stats["fault_drop"] == 1


def test_repeat_fault_on_each_listing() -> None:
    with Sandbox(make_dataset(), faults="repeat@1+3+5+7+9") as sb:
        with vipps_client(sb) as vipps:
            first = vipps.get(LEDGER_PATH, params={"pageSize": 2}).json()  # 1: repeated first item
            assert first["items"] == [ENTRIES[0], ENTRIES[0], ENTRIES[1]]
            second = vipps.get(LEDGER_PATH, params={"pageSize": 2, "cursor": first["cursor"]}).json()
            assert second["items"] == ENTRIES[2:4]  # 2: normal
            third = vipps.get(LEDGER_PATH, params={"pageSize": 2, "cursor": second["cursor"]}).json()
            assert third["items"] == [ENTRIES[3], *ENTRIES[4:6]]  # 3: previous page's last item
            day = vipps.get(LEDGER_PATH + "/dates/2026-04-20", params={"pageSize": 2}).json()  # 4
            day2 = vipps.get(LEDGER_PATH + "/dates/2026-04-20",
                             params={"pageSize": 2, "cursor": day["cursor"]}).json()  # 5
            assert [e["reference"] for e in day2["items"]] == ["O1", "O5"]
        with entur_client(sb) as entur:
            entur.get("/sales/v1/payments", params={"perPage": 2})  # 6
            page2 = entur.get("/sales/v1/payments", params={"perPage": 2, "page": 2}).json()  # 7
            assert [p["paymentId"] for p in page2["items"]] == [2, 3, 5]
            assert page2["totalItems"] == 5
        with samtrafiken_client(sb) as sam:
            sam.get("/bookings/v1/events", params={"organizationCode": "RET1", "limit": 2})  # 8
            page = sam.get("/bookings/v1/events", params={"organizationCode": "RET1", "limit": 2,
                                                          "after": "AgAAAAAAAAA"}).json()  # 9
            assert [e["eventId"] for e in page["events"]] == ["e2", "e1", "e3"]
        assert sb.stats["fault_repeat"] == 5


# ---------------------------------------------------------------------------------------------
# Robustness


def test_a_handler_failure_is_one_500(sandbox: Sandbox) -> None:
    with vipps_client(sandbox) as vipps:
        r = vipps.get("/sales/report/v1/ledgers/BADZONE/dates/2026-04-19")  # unknown time zone
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
        assert vipps.get(LEDGER_PATH).status_code == 200
    assert sandbox.stats["server_errors"] == 1


def test_many_concurrent_clients(sandbox: Sandbox) -> None:
    token = vipps_token(sandbox)
    failures: list[Any] = []

    def worker() -> None:
        with httpx.Client(base_url=sandbox.urls()["vipps_base"],
                          headers={"Authorization": "Bearer " + token}) as client:
            for _ in range(15):
                r = client.get(LEDGER_PATH, params={"pageSize": 3})
                if r.status_code != 200 or len(r.json()["items"]) != 3:
                    failures.append(r)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert sandbox.stats["data_requests"] == 16 * 15
    assert len(sandbox.requests_log) == 16 * 15 + 1


def test_stop_ends_the_server_and_cuts_keep_alive_connections() -> None:
    sb = Sandbox(make_dataset()).start()
    url = sb.url
    [serving] = [t for t in threading.enumerate() if t.name == f"recon-sandbox:{url.rsplit(':', 1)[1]}"]
    client = vipps_client(sb)
    assert client.get(LEDGER_PATH).status_code == 200  # leaves a keep-alive connection open
    sb.stop()
    assert not serving.is_alive()  # stop() returns once the server has stopped, not just asked to
    with pytest.raises(httpx.TransportError):
        client.get(LEDGER_PATH)  # the kept-alive connection was cut
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/vipps" + LEDGER_PATH)  # and nothing listens any more
    client.close()
    sb.stop()  # idempotent


class _Lazy:
    """A huge sequence that builds record i on demand, as benchmark datasets do."""

    def __init__(self, n: int, make: Any) -> None:
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self.make(i) for i in range(*index.indices(self.n))]
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(index)
        return self.make(index)


def test_lazy_sequences_are_never_copied_whole() -> None:
    n = 10**9  # copying would never finish
    dataset = Dataset(
        ledgers={"L1": Ledger("L1", entries=_Lazy(n, lambda i: _entry("2026-04-19T10:00:00Z", f"O{i}", f"P{i}")))},
        payments=_Lazy(n, lambda i: {"paymentId": i, "createdAt": "2026-03-01T00:00:00Z"}),
        events=_Lazy(n, lambda i: _event(f"e{i}", "2026-05-01T10:00:00Z")),
    )
    with Sandbox(dataset) as sb:
        with vipps_client(sb) as vipps:
            first = vipps.get(LEDGER_PATH, params={"pageSize": 1000}).json()
            assert len(first["items"]) == 1000 and first["hasMore"]
            second = vipps.get(LEDGER_PATH, params={"pageSize": 1000, "cursor": first["cursor"]}).json()
            assert second["items"][0]["reference"] == "O1000"
        with entur_client(sb) as entur:
            body = entur.get("/sales/v1/payments", params={"perPage": 1000, "page": 3}).json()
            assert body["items"][0]["paymentId"] == 2000 and body["totalItems"] == n
        with samtrafiken_client(sb) as sam:
            body = sam.get("/bookings/v1/events", params={"organizationCode": "RET1", "limit": 1000}).json()
            assert len(body["events"]) == 1000 and body["hasMore"]
