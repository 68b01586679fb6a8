-- A Vipps reference with the configured order-id prefix and suffix removed (key 2).
CREATE OR REPLACE TEMP MACRO strip_ref(ref, prefix, suffix) AS
    CASE WHEN suffix <> '' AND ends_with(
              CASE WHEN prefix <> '' AND starts_with(ref, prefix) THEN substr(ref, length(prefix) + 1) ELSE ref END,
              suffix)
         THEN left(CASE WHEN prefix <> '' AND starts_with(ref, prefix) THEN substr(ref, length(prefix) + 1) ELSE ref END,
                   length(CASE WHEN prefix <> '' AND starts_with(ref, prefix) THEN substr(ref, length(prefix) + 1) ELSE ref END)
                   - length(suffix))
         ELSE CASE WHEN prefix <> '' AND starts_with(ref, prefix) THEN substr(ref, length(prefix) + 1) ELSE ref END END
