-- Each hold carries a token of its own, new at every Hold, so that a release deletes only the hold
-- it was for: a release retried late (or a delete that timed out on this side and committed on the
-- server) never takes away a newer hold of the same path.
ALTER TABLE upload_holds ADD COLUMN token text NOT NULL DEFAULT '';
