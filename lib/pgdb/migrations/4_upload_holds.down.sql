DROP TABLE upload_holds;
