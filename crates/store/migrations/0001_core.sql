-- Accounts, organizations, repositories, collaborators, tokens.
-- Column types are limited to BIGINT and TEXT so that sqlx's Any driver reads both databases alike;
-- booleans are 0/1, times are Unix seconds.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    login       TEXT    NOT NULL,
    login_key   TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('User', 'Organization')),
    site_admin  BIGINT  NOT NULL DEFAULT 0,
    name        TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE org_members (
    org_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role     TEXT   NOT NULL CHECK (role IN ('member', 'owner')),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    owner_id    BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    visibility  TEXT    NOT NULL CHECK (visibility IN ('public', 'private', 'internal')),
    clone_url   TEXT,
    description TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (owner_id, name_key)
);

CREATE TABLE collaborators (
    repo_id     BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    permission  TEXT   NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
    PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX collaborators_user ON collaborators(user_id);

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL CHECK (kind IN ('personal', 'repository')),
    user_id       BIGINT  REFERENCES accounts(id) ON DELETE CASCADE,
    repo_id       BIGINT  REFERENCES repositories(id) ON DELETE CASCADE,
    created_by    BIGINT  REFERENCES accounts(id) ON DELETE SET NULL,
    scopes        TEXT    NOT NULL,
    note          TEXT    NOT NULL,
    last_eight    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT,
    CHECK ((kind = 'personal' AND user_id IS NOT NULL) OR (kind = 'repository' AND repo_id IS NOT NULL))
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE INDEX tokens_repo ON tokens(repo_id);
