-- An organization's teams, their members, and their grants on packages.
CREATE TABLE teams (
    id          INTEGER PRIMARY KEY,
    org_id      BIGINT  NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    slug        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT,
    privacy     TEXT    NOT NULL CHECK (privacy IN ('closed', 'secret')),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (org_id, slug)
);

CREATE TABLE team_members (
    team_id  BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role     TEXT   NOT NULL CHECK (role IN ('member', 'maintainer')),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE package_team_grants (
    package_id  BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    team_id     BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    role        TEXT   NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (package_id, team_id)
);
