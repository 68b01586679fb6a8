-- A VAT rate in basis points as people write it: 2500 -> '25 %', 1250 -> '12.5 %', NULL -> 'unknown'.
CREATE OR REPLACE TEMP MACRO rate_text(bp) AS
    CASE WHEN bp IS NULL THEN 'unknown'
         ELSE CAST(bp // 100 AS VARCHAR)
              || CASE WHEN bp % 100 = 0 THEN '' ELSE '.' || rtrim(lpad(CAST(bp % 100 AS VARCHAR), 2, '0'), '0') END
              || ' %' END
