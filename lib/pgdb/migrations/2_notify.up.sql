-- Every change of the accounts or their keys notifies the channel myftp_accounts when it commits,
-- so that the servers listening on it drop the accounts they keep in memory (package pgdb's cache).
-- A change made by hand with psql notifies them too.
CREATE FUNCTION myftp_accounts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('myftp_accounts', '');
	RETURN NULL;
END
$$;

CREATE TRIGGER accounts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
	FOR EACH STATEMENT EXECUTE FUNCTION myftp_accounts_changed();
CREATE TRIGGER ssh_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ssh_keys
	FOR EACH STATEMENT EXECUTE FUNCTION myftp_accounts_changed();
