"""The sandbox's RSA key pair, for the fake Samtrafiken ``private_key_jwt`` flow ONLY.

``sandbox_private_key.pem`` (PKCS8, unencrypted) and ``sandbox_public_key.pem`` beside this
module are a throw-away 2048-bit pair committed on purpose so that ``recon demo``, the tests and
the benchmarks can sign client assertions that the sandbox accepts. The private key is public
knowledge: it must never be registered with a real Samtrafiken (or any other) tenant.

Regenerate with ``python -m recon.sandbox.keys`` (then commit both files together).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

SANDBOX_PRIVATE_KEY_PATH = Path(__file__).with_name("sandbox_private_key.pem")
SANDBOX_PUBLIC_KEY_PATH = Path(__file__).with_name("sandbox_public_key.pem")


@cache
def sandbox_private_key_pem() -> str:
    """The sandbox-only private key (PEM text) that signs client assertions in demo and tests."""
    return SANDBOX_PRIVATE_KEY_PATH.read_text(encoding="ascii")


@cache
def sandbox_public_key_pem() -> str:
    """The public half of :func:`sandbox_private_key_pem`; the sandbox verifies assertions with it."""
    return SANDBOX_PUBLIC_KEY_PATH.read_text(encoding="ascii")


def generate_key_pair(kind: str = "rsa") -> tuple[str, str]:
    """A new pair as (private PKCS8 PEM, public SubjectPublicKeyInfo PEM): 2048-bit RSA (RS256,
    PS256) or ``kind="ec"``, P-256 (ES256)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ec"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")
    return private_pem, public_pem


if __name__ == "__main__":  # pragma: no cover - a maintenance command, run by hand
    priv, pub = generate_key_pair()
    SANDBOX_PRIVATE_KEY_PATH.write_text(priv, encoding="ascii")
    SANDBOX_PUBLIC_KEY_PATH.write_text(pub, encoding="ascii")
    print(f"wrote {SANDBOX_PRIVATE_KEY_PATH} and {SANDBOX_PUBLIC_KEY_PATH}")
