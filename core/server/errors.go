package server

import (
	"errors"

	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// replyFor maps an error from a command to the reply the client gets. It is the one place where
// domain errors become status codes. The message is safe to show: errors that might carry server
// paths or internals become a generic text (the session logs the full error).
func replyFor(err error) proto.Reply {
	if msg, ok := door.TryAgain(err); ok {
		// The store, the quota accounting or the account database did not answer in time: the
		// same request may work later, and an upload keeps what the store holds for a resume.
		return proto.Reply{Code: proto.CodeLocalError, Msg: msg}
	}
	var he *homefs.Error
	if errors.As(err, &he) {
		return proto.Reply{Code: codeFor(he.Kind), Msg: he.Error()}
	}
	switch {
	case errors.Is(err, proto.ErrUnknownOp):
		return proto.Reply{Code: proto.CodeUnknownOp, Msg: err.Error()[len("proto: "):]}
	case errors.Is(err, proto.ErrBadArgs):
		return proto.Reply{Code: proto.CodeBadArgs, Msg: err.Error()[len("proto: "):]}
	case errors.Is(err, auth.ErrLoginIncorrect):
		return proto.Reply{Code: proto.CodeNotLoggedIn, Msg: "login incorrect"}
	case errors.Is(err, errNotLoggedIn):
		return proto.Reply{Code: proto.CodeNotLoggedIn, Msg: "please log in first"}
	case errors.Is(err, errNoUpload):
		return proto.Reply{Code: proto.CodeBadSequence, Msg: "no upload in progress: send put first"}
	case errors.Is(err, errAlreadyLoggedIn):
		return proto.Reply{Code: proto.CodeBadSequence, Msg: "already logged in"}
	}
	return proto.Reply{Code: proto.CodeLocalError, Msg: "local error on the server"}
}

func codeFor(kind error) int {
	switch kind {
	case homefs.ErrQuota:
		return proto.CodeQuota
	case homefs.ErrBusy:
		return proto.CodeFileBusy
	case homefs.ErrNoSpace:
		return proto.CodeNoSpace
	case homefs.ErrInvalidPath:
		return proto.CodeNameNotOK
	case homefs.ErrChecksum, homefs.ErrSize:
		return proto.CodeTransferFail
	case homefs.ErrIO:
		return proto.CodeLocalError
	}
	return proto.CodeUnavailFile // not found, exists, outside, not a dir, is a dir, not empty, permission
}

var (
	errNotLoggedIn     = errors.New("server: not logged in")
	errNoUpload        = errors.New("server: no upload in progress")
	errAlreadyLoggedIn = errors.New("server: already logged in")
)
