-- Web UI sessions: the cookie's value is stored as a keyed hash (as API tokens are), with the
-- session's form token (CSRF), its times, and when it was signed out or revoked.
CREATE TABLE web_sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT   NOT NULL UNIQUE,
    user_id       BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
