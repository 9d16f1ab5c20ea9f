-- The server processes that run environments (replicas), each by the id its data directory
-- keeps, with the address the others forward an environment's requests to and its SSH gateway's
-- ('' : none).
CREATE TABLE replicas (
    id           TEXT   PRIMARY KEY,
    address      TEXT   NOT NULL,
    ssh_address  TEXT   NOT NULL DEFAULT '',
    seen_at      BIGINT NOT NULL
);
-- The replica that runs an environment ('' : made before replicas were recorded; the first
-- server that starts takes it).
ALTER TABLE codespaces ADD COLUMN replica TEXT NOT NULL DEFAULT '';
