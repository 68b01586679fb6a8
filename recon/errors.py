"""The error kinds recon distinguishes; cli.py maps each to one exit code and one stderr line."""

from __future__ import annotations


class ReconError(Exception):
    """Base of every error recon raises on purpose."""

    exit_code = 1


class ConfigError(ReconError):
    """A missing or malformed setting or secret: the operator has to fix the configuration."""

    exit_code = 2


class SourceError(ReconError):
    """A source could not be pulled; its cursor stays where its data is safe."""

    exit_code = 3

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class FatalSourceError(SourceError):
    """Retrying will not help (refused credentials, 4xx, a paging loop, an unexpected shape)."""


class RetriableSourceError(SourceError):
    """A transient failure (429, 5xx, timeout, dropped connection, broken JSON)."""


class LockHeld(ReconError):
    """Another run holds the lake's lock."""

    exit_code = 4


class MismatchesFound(ReconError):
    """Used with --fail-on-mismatch only: the run worked and found exceptions."""

    exit_code = 5
