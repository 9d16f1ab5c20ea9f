-- The token a token was created with (NULL: made by the server itself, or before this column):
-- revoking a token revokes every token made with it, and a token never outlives its parent.
ALTER TABLE tokens ADD COLUMN parent_id BIGINT REFERENCES tokens(id) ON DELETE CASCADE;
CREATE INDEX tokens_parent ON tokens(parent_id);
