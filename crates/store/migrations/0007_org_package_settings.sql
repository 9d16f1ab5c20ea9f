-- Organization settings for packages. A missing row means the defaults.
CREATE TABLE org_package_settings (
    org_id        BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    auto_inherit  BIGINT NOT NULL DEFAULT 1
);
