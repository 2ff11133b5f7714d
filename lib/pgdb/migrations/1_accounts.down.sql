DROP TABLE ssh_keys;
DROP TABLE accounts;
