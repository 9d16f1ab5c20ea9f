-- Development environments ("codespaces"): one row per environment a user created for a
-- repository. What runs lives under the data directory's environments/<name>; the row is what
-- the API shows and what survives a restart.
CREATE TABLE codespaces (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    owner_id     BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    repo_id      BIGINT  NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    display_name TEXT    NOT NULL,
    git_ref      TEXT,
    image        TEXT,
    runtime      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    state_reason TEXT,
    -- 1 once the first start cloned the workspace and ran postCreateCommand.
    initialized  BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    last_used_at BIGINT  NOT NULL
);
CREATE INDEX codespaces_owner ON codespaces(owner_id);
