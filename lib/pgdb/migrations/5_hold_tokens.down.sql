ALTER TABLE upload_holds DROP COLUMN token;
