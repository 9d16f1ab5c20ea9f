-- What fences an environment in: its machine type (CPU, memory, disk limits) and the first host
-- id of the range its user namespace maps to (NULL until its first start under isolation; two
-- environments never share a range).
ALTER TABLE codespaces ADD COLUMN machine TEXT NOT NULL DEFAULT 'basicLinux';
ALTER TABLE codespaces ADD COLUMN uid_base BIGINT;
CREATE UNIQUE INDEX codespaces_uid_base ON codespaces(uid_base);
