-- Explicit grants on packages: to users (a role), and to repositories, separately for their
-- environments (read) and for their repository tokens (a role).
CREATE TABLE package_user_grants (
    package_id  BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role        TEXT   NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (package_id, user_id)
);

CREATE TABLE package_repo_grants (
    package_id    BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    repo_id       BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    environments  BIGINT NOT NULL DEFAULT 0,
    token_role    TEXT CHECK (token_role IN ('read', 'write', 'admin')),
    PRIMARY KEY (package_id, repo_id)
);
