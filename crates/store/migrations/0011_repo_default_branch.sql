-- The branch environments clone when they are created without one (GitHub's default_branch);
-- NULL: whatever the clone URL's HEAD names.
ALTER TABLE repositories ADD COLUMN default_branch TEXT;
