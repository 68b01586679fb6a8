"""The error kinds recon distinguishes; cli.py maps each to one exit code and one stderr line.

Errors carry data, not only text: a configuration error lists its problems, a source error
names its source and what went wrong, an HTTP error its status and the server's problem body.
Code decides on those attributes, never by parsing a message.
"""

from __future__ import annotations

from typing import Any


class ReconError(Exception):
    """Base of every error recon raises on purpose."""

    exit_code = 1


class ConfigError(ReconError):
    """A missing or malformed setting or secret: the operator has to fix the configuration.

    ``problems`` holds one line per problem (the CLI prints each on its own line).
    """

    exit_code = 2

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class SourceError(ReconError):
    """A source could not be pulled; its cursor stays where its data is safe."""

    exit_code = 3

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.detail = detail  # the message without the source's name


class FatalSourceError(SourceError):
    """Retrying will not help (refused credentials, 4xx, a paging loop, an unexpected shape)."""


class RetriableSourceError(SourceError):
    """A transient failure (429, 5xx, timeout, dropped connection, broken JSON)."""


class HttpStatusError(FatalSourceError):
    """The server answered a request with an error status that retrying does not change."""

    def __init__(self, source: str, what: str, status: int, problem: dict[str, Any] | None, summary: str) -> None:
        super().__init__(source, f"{what}: {summary}")
        self.what = what  # "GET /sales/v1/payments"
        self.status = status
        self.problem = problem  # the decoded error body, when it was a JSON object
        self.summary = summary  # "HTTP 400: Bad Request; perPage must be <= 50"


class LockHeld(ReconError):
    """Another run holds the lake's lock."""

    exit_code = 4


class MismatchesFound(ReconError):
    """Used with --fail-on-mismatch only: the run worked and found exceptions."""

    exit_code = 5
