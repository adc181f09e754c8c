-- The share of bad rows above which an upload's file is refused, set per upload (0: the default).
ALTER TABLE uploads ADD COLUMN max_error_rate REAL NOT NULL DEFAULT 0;
