-- The container registry: packages, blobs, manifests, tags, uploads in progress.
CREATE TABLE packages (
    id            INTEGER PRIMARY KEY,
    owner_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind          TEXT   NOT NULL CHECK (kind IN ('container', 'npm')),
    name          TEXT   NOT NULL,
    visibility    TEXT   NOT NULL CHECK (visibility IN ('public', 'private', 'internal')),
    publisher_id  BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (owner_id, kind, name)
);

-- Every blob the store holds, once, whatever the number of packages that link it.
CREATE TABLE blobs (
    digest      TEXT   PRIMARY KEY,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Which packages may serve which blobs.
CREATE TABLE package_blobs (
    package_id  BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    digest      TEXT   NOT NULL REFERENCES blobs(digest),
    PRIMARY KEY (package_id, digest)
);
CREATE INDEX package_blobs_digest ON package_blobs(digest);

-- Manifests, stored as pushed (the body is the exact bytes, which are UTF-8 JSON).
CREATE TABLE manifests (
    package_id     BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    digest         TEXT   NOT NULL,
    media_type     TEXT   NOT NULL,
    artifact_type  TEXT,
    subject        TEXT,
    annotations    TEXT,
    size           BIGINT NOT NULL,
    body           TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (package_id, digest)
);
CREATE INDEX manifests_subject ON manifests(package_id, subject);

-- What each manifest points at (blobs and child manifests), for deletion and collection.
CREATE TABLE manifest_refs (
    package_id       BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    manifest_digest  TEXT   NOT NULL,
    digest           TEXT   NOT NULL,
    PRIMARY KEY (package_id, manifest_digest, digest)
);

CREATE TABLE tags (
    package_id  BIGINT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    digest      TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (package_id, name)
);

-- Uploads in progress: the data lives in blob storage under uploads/<id>; any replica can
-- continue an upload from here.
CREATE TABLE uploads (
    id          TEXT   PRIMARY KEY,
    repository  TEXT   NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
