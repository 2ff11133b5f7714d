-- The paths with an upload in progress, by the node that runs it, so that no other node starts an
-- upload of the same path (package homefs's Holder). A node's holds end with its lease.
CREATE TABLE upload_holds (
	home text NOT NULL,
	path text NOT NULL,
	node text NOT NULL REFERENCES quota_nodes (node) ON DELETE CASCADE,
	PRIMARY KEY (home, path)
);
CREATE INDEX upload_holds_node ON upload_holds (node);
