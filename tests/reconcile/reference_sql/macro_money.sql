-- An amount in minor units shown in major units with its currency, exactly (for explanations).
CREATE OR REPLACE TEMP MACRO money(m, cur) AS
    CASE WHEN m IS NULL THEN 'unknown'
         ELSE (CASE WHEN m < 0 THEN '-' ELSE '' END) || CAST(abs(m) // 100 AS VARCHAR) || '.'
              || lpad(CAST(abs(m) % 100 AS VARCHAR), 2, '0') || ' ' || coalesce(cur, '') END
