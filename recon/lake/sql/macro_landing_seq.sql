-- The one rule for "landed later": by landing time, then by the row's position within its run
-- (the number after the colon in _row_id). Every "latest landed version" and "first landed copy"
-- in the catalog and in reconcile orders by this, so the rule lives here only.
CREATE OR REPLACE MACRO landing_seq(landed_at, row_id) AS
    struct_pack(landed_at := landed_at, seq := CAST(split_part(row_id, ':', 2) AS BIGINT))
