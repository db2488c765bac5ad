-- Which rule made each account's `name_key`: names are now compared by
-- `protocol::name_key` (the confusable skeleton of the case-folded NFKC name),
-- which SQL cannot compute. Rows keyed by the old rule (lower-casing) say
-- 'lowercase'; the server recomputes their keys when it opens the store
-- (`store/name_keys.rs`), and again whenever the rule or its Unicode tables change.
ALTER TABLE users ADD COLUMN name_key_rule TEXT NOT NULL DEFAULT 'lowercase';
