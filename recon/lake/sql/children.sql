-- Child rows (order lines, transactions) of the parent version the parent view kept.
SELECT c.* FROM raw_{table} AS c SEMI JOIN {parent} AS p ON c._parent_row_id = p._row_id
