-- An exception's ID: ten characters of Crockford base32 (no I, L, O, U: read aloud without doubt)
-- from the first 50 bits of the SHA-256 of its identity (the code and the IDs of the records that
-- cause it, joined by '|'). The same records give the same ID in every run; 50 bits keep a
-- collision unlikely (about 1 in 2,000) even at a million exceptions.
CREATE OR REPLACE MACRO exception_id(identity) AS array_to_string(list_transform(range(10), lambda i: substr(
    '0123456789ABCDEFGHJKMNPQRSTVWXYZ',
    CAST(((('0x' || substr(sha256(identity), 1, 13))::UBIGINT >> (47 - 5 * i)) & 31) AS INTEGER) + 1, 1)), '')
