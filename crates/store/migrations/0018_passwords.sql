-- Users' passwords, for signing in to the web UI: argon2id hashes as PHC strings
-- (`$argon2id$v=19$…`, salt and parameters inside). NULL: the user has no password and cannot sign
-- in with one. API tokens stay the way programs authenticate.
ALTER TABLE accounts ADD COLUMN password_hash TEXT;
