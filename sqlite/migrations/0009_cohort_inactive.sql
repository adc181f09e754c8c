-- A cohort can be "inactive": built, but served at no publisher (its status reason says why).
-- SQLite cannot alter a CHECK constraint, and rebuilding the table would cascade to its
-- targets, so the stored definition's status list gains the value in place. Adding a value only
-- widens the constraint, which every existing row still meets. RESET makes this connection
-- reload the schema, and the table created and dropped after it raises the schema cookie, so
-- every other connection reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, '''active'', ''failed'', ''paused'')', '''active'', ''inactive'', ''failed'', ''paused'')')
WHERE type = 'table' AND name = 'cohorts';
PRAGMA writable_schema = RESET;
CREATE TABLE schema_reload (x INTEGER) STRICT;
DROP TABLE schema_reload;
