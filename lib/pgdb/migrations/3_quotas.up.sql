-- Quota accounting of homes shared by every node (package homefs's Ledger): what each home holds,
-- the bytes promised to uploads in progress on all nodes together, and by which node, so that the
-- promises of a node that stopped renewing its lease can be given back.
CREATE TABLE home_usage (
	home     text    PRIMARY KEY,
	token    text    NOT NULL,               -- the home's mark when it was measured
	stale    boolean NOT NULL DEFAULT false, -- measure again at the next load
	bytes    bigint  NOT NULL,
	reserved bigint  NOT NULL DEFAULT 0,     -- the sum of home_reservations.bytes
	files    bigint  NOT NULL,
	partials bigint  NOT NULL
);

CREATE TABLE quota_nodes (
	node    text        PRIMARY KEY,
	expires timestamptz NOT NULL -- renewed while the node runs; past it, its reservations are given back
);

CREATE TABLE home_reservations (
	home  text   NOT NULL REFERENCES home_usage (home) ON DELETE CASCADE,
	node  text   NOT NULL,
	bytes bigint NOT NULL,
	PRIMARY KEY (home, node)
);
CREATE INDEX home_reservations_node ON home_reservations (node);
