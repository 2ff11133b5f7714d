package proto

// Status codes, in the spirit of FTP (RFC 959): the first digit says how it went.
//
//	1xx  preliminary: more follows (data frames, then a final reply)
//	2xx  done
//	3xx  accepted, waiting for more from the client
//	4xx  failed, may work later (busy, quota, disk full); the session goes on unless it is 421
//	5xx  failed, will not work as asked (bad request, no such file, not allowed)
const (
	CodeQueued       = 120 // connection waits for a free server slot; the greeting follows
	CodeDataFollows  = 150 // data frames and a final reply follow
	CodeOK           = 200 // command done
	CodeStat         = 213 // stat result
	CodeHelp         = 214 // help result
	CodeReady        = 220 // greeting: server ready
	CodeBye          = 221 // quit: the server closes the connection
	CodeTransferDone = 226 // transfer or listing complete
	CodeLoggedIn     = 230 // login accepted
	CodeFileOK       = 250 // file action done (cd, rm, rmdir, rename)
	CodePath         = 257 // a path in the reply (pwd, mkdir)
	CodeSendData     = 350 // put accepted: send data frames, then done

	CodeUnavailable  = 421 // busy, shutting down, timed out, too many failures; the connection closes
	CodeFileBusy     = 450 // file busy: being uploaded by another session
	CodeLocalError   = 451 // server-side I/O error
	CodeNoSpace      = 452 // the server's disk is full
	CodeSyntax       = 500 // malformed frame or header; the connection closes
	CodeBadArgs      = 501 // missing or invalid arguments
	CodeUnknownOp    = 502 // unknown operation
	CodeBadSequence  = 503 // command not valid now (before login, data without put)
	CodeNotLoggedIn  = 530 // login incorrect or required
	CodeUnavailFile  = 550 // no such file or directory, not a directory, permission denied
	CodeQuota        = 552 // quota exceeded
	CodeNameNotOK    = 553 // file name not allowed (invalid path, reserved name)
	CodeTransferFail = 554 // transfer failed verification (checksum mismatch, short or long data)
)
