DROP TRIGGER ssh_keys_changed ON ssh_keys;
DROP TRIGGER accounts_changed ON accounts;
DROP FUNCTION myftp_accounts_changed();
