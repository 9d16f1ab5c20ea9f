-- A package's source repository and whether it inherits that repository's access.
ALTER TABLE packages ADD COLUMN source_repo_id BIGINT REFERENCES repositories(id) ON DELETE SET NULL;
ALTER TABLE packages ADD COLUMN inherit_access BIGINT NOT NULL DEFAULT 0;
