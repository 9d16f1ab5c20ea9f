-- Environment secrets. Nothing here is readable without the master key, which is kept outside
-- the database: every private value is encrypted under its own data key, and the data key is
-- stored wrapped by the master key named in master_key_id (envelope encryption). Binary values
-- are base64 text.

-- One X25519 key pair per scope; clients seal values to its public key.
CREATE TABLE secret_keys (
    id             INTEGER PRIMARY KEY,
    scope_kind     TEXT   NOT NULL CHECK (scope_kind IN ('user', 'repository', 'organization')),
    scope_id       BIGINT NOT NULL,
    key_id         TEXT   NOT NULL,
    public_key     TEXT   NOT NULL,
    ciphertext     TEXT   NOT NULL,
    wrapped_key    TEXT   NOT NULL,
    master_key_id  TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (scope_kind, scope_id)
);

CREATE TABLE secrets (
    id             INTEGER PRIMARY KEY,
    scope_kind     TEXT   NOT NULL CHECK (scope_kind IN ('user', 'repository', 'organization')),
    scope_id       BIGINT NOT NULL,
    name           TEXT   NOT NULL,
    visibility     TEXT   CHECK (visibility IN ('all', 'private', 'selected')),
    ciphertext     TEXT   NOT NULL,
    wrapped_key    TEXT   NOT NULL,
    master_key_id  TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (scope_kind, scope_id, name)
);

-- The repositories a user or organization secret is selected for.
CREATE TABLE secret_repositories (
    secret_id  BIGINT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    repo_id    BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    PRIMARY KEY (secret_id, repo_id)
);

-- Who created, updated or deleted which secret, and when (never the value).
CREATE TABLE secret_audit (
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    action      TEXT   NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    scope_kind  TEXT   NOT NULL,
    scope_id    BIGINT NOT NULL,
    name        TEXT   NOT NULL
);
