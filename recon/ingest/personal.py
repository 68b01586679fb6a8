"""Personal data: the fields of each API that identify a person, and the one rule for them.

recon reconciles money, not people: no check reads these fields. By default they are removed from
every record before it is normalised, quarantined or landed, so they reach neither the columns nor
``_raw``. ``land_pii = true`` in a source's section keeps them (in ``_raw``, and in the columns
that carry them). Either way ``_hash`` is the hash of the record without them, so turning the
setting on or off never makes a record look changed and lands no duplicate.

The fields are top-level keys of a record; README's "Personal data" section lists them.
"""

from __future__ import annotations

from typing import Any

PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    # Sales API entry: {email, phone, name} in the spec (null today).
    "vipps": ("customer",),
    # Report API entry: sent only when asked with includeGDPRSensitiveData=true.
    "vipps_report": ("message", "name", "maskedPhoneNo"),
    # Entur payment and credit: the buyer's customer account (a pseudonymous ID of a person).
    "entur": ("customerNumber",),
    # Samtrafiken booking event: {name, email} of who paid.
    "samtrafiken": ("payer",),
}


def strip_personal(record: Any, fields: tuple[str, ...]) -> Any:
    """``record`` without the personal ``fields`` that hold a value. A null is left as sent: it
    holds nothing, and leaving it keeps the hash of records landed before this rule existed."""
    if not fields or not isinstance(record, dict) or not any(record.get(k) is not None for k in fields):
        return record
    return {k: v for k, v in record.items() if k not in fields or v is None}
