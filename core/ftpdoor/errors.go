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
func replyErr(s *session, err error) error {
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
