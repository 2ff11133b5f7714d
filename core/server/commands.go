package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/myftp/myftp/core/admission"
	"github.com/myftp/myftp/core/auth"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
)

// command is one entry of the command table.
type command struct {
	run  func(*session, proto.Request) error
	anon bool // allowed before login
}

// commandTable maps every operation to its handler. Data frames are not in it: they are handled
// by session.data as the body of a put.
func commandTable() map[string]command {
	return map[string]command{
		proto.OpLogin:    {run: (*session).cmdLogin, anon: true},
		proto.OpNoop:     {run: (*session).cmdNoop, anon: true},
		proto.OpHelp:     {run: (*session).cmdHelp, anon: true},
		proto.OpQuit:     {run: (*session).cmdQuit, anon: true},
		proto.OpPwd:      {run: (*session).cmdPwd},
		proto.OpCd:       {run: (*session).cmdCd},
		proto.OpList:     {run: (*session).cmdList},
		proto.OpStat:     {run: (*session).cmdStat},
		proto.OpMkdir:    {run: (*session).cmdMkdir},
		proto.OpRmdir:    {run: (*session).cmdRmdir},
		proto.OpRm:       {run: (*session).cmdRm},
		proto.OpRename:   {run: (*session).cmdRename},
		proto.OpQuota:    {run: (*session).cmdQuota},
		proto.OpPartials: {run: (*session).cmdPartials},
		proto.OpPut:      {run: (*session).cmdPut},
		proto.OpDone:     {run: (*session).cmdDone},
		proto.OpGet:      {run: (*session).cmdGet},
		proto.OpSum:      {run: (*session).cmdSum},
	}
}

func (s *session) cmdLogin(req proto.Request) error {
	if s.fs != nil {
		return errAlreadyLoggedIn
	}
	acct, err := s.srv.cfg.Auth.Login(s.ctx, req.User, req.Password, s.remote)
	if err != nil && s.ctx.Err() != nil { // the server is shutting down: not the client's failure
		s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: "server shutting down"})
		s.quit = true
		return nil
	}
	var te *auth.ThrottledError
	if errors.As(err, &te) { // refused before the password was looked at; Login logged it
		s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: fmt.Sprintf("too many failed logins from %s, retry in %d s",
			te.Addr, te.RetryAfter/time.Second)})
		s.quit = true
		return nil
	}
	if errors.Is(err, account.ErrUnavailable) { // not the client's failure either
		s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: "account database unavailable, try again later"})
		s.quit = true
		return nil
	}
	if err != nil { // Login logged it, with the name cut short
		s.failures++
		if s.failures >= s.srv.cfg.LoginAttempts {
			s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: "too many failed logins; closing the session"})
			s.quit = true
			return nil
		}
		return err
	}
	if err := s.raw.Login(acct.Name); err != nil {
		// Over the account's session limit, or closed by the login deadline meanwhile.
		s.log.Info("login refused", "account", acct.Name, "err", err)
		s.reply(proto.Reply{Code: proto.CodeUnavailable, Msg: loginRefusal(err)})
		s.quit = true
		return nil
	}
	fs, err := s.srv.cfg.OpenHome(acct)
	if err != nil {
		return err
	}
	s.acct, s.fs, s.deadline = acct, fs, timeZero
	s.log = s.log.With("user", acct.Name)
	s.log.Info("login")
	s.reply(proto.Reply{Code: proto.CodeLoggedIn, Msg: "Account [" + acct.Name + "] login successful", User: acct.Name, Path: fs.Pwd()})
	return nil
}

func (s *session) cmdNoop(proto.Request) error {
	s.reply(proto.Reply{Code: proto.CodeOK, Msg: "ok"})
	return nil
}

func (s *session) cmdHelp(proto.Request) error {
	names := make([]string, 0, len(s.srv.commands))
	for n := range s.srv.commands {
		names = append(names, n)
	}
	sort.Strings(names)
	s.reply(proto.Reply{Code: proto.CodeHelp, Msg: "operations this server knows", Commands: names})
	return nil
}

func (s *session) cmdQuit(proto.Request) error {
	s.reply(proto.Reply{Code: proto.CodeBye, Msg: "goodbye"})
	s.quit = true
	return nil
}

func (s *session) cmdPwd(proto.Request) error {
	s.reply(proto.Reply{Code: proto.CodePath, Msg: s.fs.Pwd(), Path: s.fs.Pwd()})
	return nil
}

func (s *session) cmdCd(req proto.Request) error {
	p, err := s.fs.Chdir(req.Path)
	if err != nil {
		return err
	}
	s.reply(proto.Reply{Code: proto.CodeFileOK, Msg: "directory changed to " + p, Path: p})
	return nil
}

func (s *session) cmdStat(req proto.Request) error {
	e, err := s.fs.Stat(req.Path)
	if err != nil {
		return err
	}
	s.reply(proto.Reply{Code: proto.CodeStat, Msg: e.Name, Entry: wireEntry(e)})
	return nil
}

func (s *session) cmdMkdir(req proto.Request) error {
	p, err := s.fs.Mkdir(req.Path, req.Parents)
	if err != nil {
		return err
	}
	s.reply(proto.Reply{Code: proto.CodePath, Msg: "directory " + p + " created", Path: p})
	return nil
}

func (s *session) cmdRmdir(req proto.Request) error {
	if err := s.fs.Rmdir(req.Path); err != nil {
		return err
	}
	s.reply(proto.Reply{Code: proto.CodeFileOK, Msg: "directory " + req.Path + " removed"})
	return nil
}

func (s *session) cmdRm(req proto.Request) error {
	if req.Partial {
		if err := s.fs.RemovePartial(req.Path); err != nil {
			return err
		}
		s.reply(proto.Reply{Code: proto.CodeFileOK, Msg: "unfinished upload of " + req.Path + " removed"})
		return nil
	}
	if err := s.fs.Remove(req.Path); err != nil {
		return err
	}
	s.reply(proto.Reply{Code: proto.CodeFileOK, Msg: "file " + req.Path + " removed"})
	return nil
}

func (s *session) cmdRename(req proto.Request) error {
	if err := s.fs.Rename(req.Path, req.To); err != nil {
		return err
	}
	s.reply(proto.Reply{Code: proto.CodeFileOK, Msg: "renamed " + req.Path + " to " + req.To})
	return nil
}

func (s *session) cmdQuota(proto.Request) error {
	used, quota := s.fs.Usage()
	files, maxFiles := s.fs.FileCount()
	s.reply(proto.Reply{Code: proto.CodeOK, Msg: "quota", Used: used, Quota: quota, Free: max(quota-used, 0),
		Files: files, MaxFiles: maxFiles})
	return nil
}

// listFrame is the size at which a listing's data frame is sent.
const listFrame = 32 << 10

// cmdList streams a listing: a 150 reply, data frames of JSON lines (one entry per line, in
// directory order), and a 226 reply with the count. Memory stays at one frame whatever the size of
// the directory.
func (s *session) cmdList(req proto.Request) error {
	return s.streamLines("listing", func(emit func(any) error) error {
		return s.fs.List(req.Path, req.Long, func(e homefs.Entry) error { return emit(wireEntry(e)) })
	})
}

// cmdPartials lists the account's unfinished uploads as list lists a directory.
func (s *session) cmdPartials(proto.Request) error {
	return s.streamLines("unfinished uploads", func(emit func(any) error) error {
		return s.fs.Partials(func(p homefs.PartialInfo) error {
			return emit(proto.Partial{Path: p.Path, Size: p.Size, Total: max(p.Total, 0), Mtime: p.Mtime.UTC()})
		})
	})
}

// streamLines sends what walk emits as a 150 reply, data frames of JSON lines (one a line, a
// frame of whole lines sent each time it reaches listFrame bytes), and a 226 reply with the
// count; what names the lines in the replies. An error before the first line is the only reply;
// after the 150, the final reply carries it.
func (s *session) streamLines(what string, walk func(emit func(any) error) error) error {
	started := false
	var buf bytes.Buffer
	var count int64
	err := walk(func(v any) error {
		if !started {
			s.reply(proto.Reply{Code: proto.CodeDataFollows, Msg: what + " follows"})
			started = true
		}
		line, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
		count++
		if buf.Len() >= listFrame {
			return s.sendData(&buf)
		}
		return nil
	})
	if !started {
		if err != nil {
			return err
		}
		s.reply(proto.Reply{Code: proto.CodeDataFollows, Msg: what + " follows"})
	}
	if err == nil && buf.Len() > 0 {
		err = s.sendData(&buf)
	}
	if err != nil {
		if errors.Is(err, errWrite) {
			return nil
		}
		s.result(err)
		return nil
	}
	s.reply(proto.Reply{Code: proto.CodeTransferDone, Msg: what + " complete", Count: count})
	return nil
}

var errWrite = errors.New("server: write failed")

// sendData writes buf as one data frame and empties it.
func (s *session) sendData(buf *bytes.Buffer) error {
	if s.writeFrame(proto.TypeData, buf.Bytes()) != nil {
		return errWrite
	}
	buf.Reset()
	return nil
}

// wireEntry converts a homefs entry to its wire form.
func wireEntry(e homefs.Entry) *proto.Entry {
	return &proto.Entry{Name: e.Name, Type: string(e.Type), Size: e.Size, Mode: e.Mode, Mtime: e.Mtime.UTC()}
}

// loginRefusal is what a client hears when admission refuses a login whose password was right.
func loginRefusal(err error) string {
	var le *admission.SessionLimitError
	if errors.As(err, &le) {
		return le.Error() + "; closing the session"
	}
	return "login timeout; closing the session"
}
