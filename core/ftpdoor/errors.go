package ftpdoor

import (
	"errors"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/homefs"
)

// replyError is an error as the engine shows it to the client: msg follows the reply code, and
// kind, one of the engine's errors or nil, chooses the code (see replyErr).
type replyError struct {
	kind error // ftpserver.ErrStorageExceeded, ftpserver.ErrFileNameNotAllowed or nil
	msg  string
	err  error // the cause, for logs; may be nil
}

func (e *replyError) Error() string { return e.msg }

func (e *replyError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// replyErr maps an error of the core to the reply the client gets; it is the one place where
// the door decides codes. The engine picks the code from the error: 552 for a quota error
// (ftpserver.ErrStorageExceeded), 553 for a name that is not allowed (ErrFileNameNotAllowed),
// 550 for everything else, and shows the error's text, which for homefs errors is written for
// the user (the path as the user names it, never the server's). Errors that are not homefs
// errors (the network's, the door's own) are returned as they are.
//
// A failure of what the server depends on (the store, the quota accounting, the account
// database: door.TryAgain) is answered with door.TryAgain's message ("storage unavailable, try
// again later: /PATH"). RFC 959 has 451 for it, but the engine (v0.32.3) has no way for a driver
// to choose a code beyond those three: it writes every reply itself, and under TLS nothing
// between it and the socket can read them. 550 ("file unavailable") is the nearest: 552 and 553
// would tell the client its quota is full or its name refused.
func replyErr(s *session, err error) error {
	if msg, ok := door.TryAgain(err); ok {
		return &replyError{msg: msg, err: err}
	}
	var he *homefs.Error
	if err == nil || !errors.As(err, &he) {
		return err
	}
	door.LogEscape(s.log, "", he.Path, err)
	var kind error
	switch {
	case errors.Is(he.Kind, homefs.ErrQuota), errors.Is(he.Kind, homefs.ErrNoSpace):
		kind = ftpserver.ErrStorageExceeded
	case errors.Is(he.Kind, homefs.ErrInvalidPath):
		kind = ftpserver.ErrFileNameNotAllowed
	}
	return &replyError{kind: kind, msg: he.Error(), err: err}
}

// formatSize renders a size for people.
func formatSize(n int64) string { return bytesize.Format(n) }
