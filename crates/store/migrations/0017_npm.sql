-- npm packages' versions: the manifest as published, the tarball (a blob of the package, by
-- digest) and the digests npm's clients check. A version is never published twice, not even
-- after it is unpublished (npm's rule): an unpublished one keeps its row, marked deleted.
CREATE TABLE npm_versions (
    id           INTEGER PRIMARY KEY,
    package_id   BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version      TEXT   NOT NULL,
    manifest     TEXT   NOT NULL,
    tarball      TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    integrity    TEXT   NOT NULL,
    shasum       TEXT   NOT NULL,
    deprecated   TEXT,
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT,
    UNIQUE (package_id, version)
);
CREATE INDEX npm_versions_tarball ON npm_versions(package_id, tarball);

-- Dist-tags: a name (`latest`, `next`) for one published version of the package.
CREATE TABLE npm_dist_tags (
    package_id  BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    tag         TEXT   NOT NULL,
    version     TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (package_id, tag)
);
