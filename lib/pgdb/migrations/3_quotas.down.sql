DROP TABLE home_reservations;
DROP TABLE quota_nodes;
DROP TABLE home_usage;
