-- Garbage collection. A blob is collected in three steps (doomed, moved to trash, buried) so
-- that an upload of the same digest running at the same time revives it instead of losing it.
-- `touched_at` is when an upload last pinned the blob; `linked_at` when a package last linked it.
ALTER TABLE blobs ADD COLUMN state TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'doomed'));
ALTER TABLE blobs ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE package_blobs ADD COLUMN linked_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX uploads_updated ON uploads(updated_at);
CREATE INDEX package_versions_deleted ON package_versions(deleted_at);
