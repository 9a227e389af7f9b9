-- bench/floor/two_commits.sql: two autocommit statements that each take an
-- xid and so flush a commit record, and do nothing else: the floor of a
-- checkout made of two durable transactions.
SELECT txid_current();
SELECT txid_current();
