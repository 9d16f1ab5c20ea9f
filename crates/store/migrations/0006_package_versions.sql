-- Package versions (one per manifest digest), with integer ids for the API, deleted softly so
-- that they can be restored: the tags they had are kept with them meanwhile.
CREATE TABLE package_versions (
    id          INTEGER PRIMARY KEY,
    package_id    BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    digest        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT,
    deleted_tags  TEXT,
    UNIQUE (package_id, digest)
);
INSERT INTO package_versions (package_id, digest, created_at) SELECT package_id, digest, created_at FROM manifests;
