// Package conformance holds no code, only the storage conformance suite of the doors
// (conformance_test.go): one table of the promises myftp makes about a user's files (the jail,
// atomic visibility of uploads, resume of uploads and downloads, quotas, renames and their limit on
// S3, listings of many entries) run through each door (native, FTP, SFTP) with the client its
// users run (package client as myftpc uses it, curl, OpenSSH's sftp), on each storage backend
// (the local disk, and S3 on the test MinIO). Package storagetest holds the same promises at the
// backend level; this suite shows that every door keeps them end to end.
//
// The S3 cells skip without a test S3 server (see package s3test: bash .ci/run starts one) and
// fail without one under MYFTP_REQUIRE_S3; the FTP and SFTP cells skip without curl or OpenSSH's
// sftp (see servertest.NeedClient). MYFTP_STORAGE_BIG=1 lists 100,000 entries through each door
// instead of 2,000, as it does in package storagetest.
package conformance
