-- Tokens of development environments: each acts as a user inside an environment of a
-- repository, and only pulls. Issued at every start of an environment; they expire.
CREATE TABLE environment_tokens (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    user_id     BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    repo_id     BIGINT  NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    environment TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX environment_tokens_environment ON environment_tokens(environment);
