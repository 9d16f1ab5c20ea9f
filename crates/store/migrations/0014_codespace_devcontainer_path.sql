-- The dev container configuration an environment was created from, when its creator chose one
-- (GitHub's `devcontainer_path`); NULL: the repository's default.
ALTER TABLE codespaces ADD COLUMN devcontainer_path TEXT;
