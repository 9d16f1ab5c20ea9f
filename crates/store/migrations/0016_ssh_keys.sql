-- Users' SSH public keys (GitHub's /user/keys), for the SSH gateway. A key belongs to one
-- account at most: its fingerprint is unique, as GitHub's "key is already in use".
CREATE TABLE ssh_keys (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    title       TEXT   NOT NULL,
    key         TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX ssh_keys_user ON ssh_keys(user_id);
