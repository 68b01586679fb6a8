-- A table that has no landed file yet: typed, empty, so queries over it still work.
SELECT {columns} WHERE false
