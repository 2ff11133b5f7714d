package main

import (
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/myftp/myftp/core/server/servertest"
)

// requestCutKey is the key of the script's last cutrequest proxy in its values.
type requestCutKey struct{}

// requestCutSlot holds the proxy a script's cutrequest started last.
type requestCutSlot struct{ p *servertest.CutProxy }

// cmdCutRequest starts a proxy on 127.0.0.1 in front of $ADDR, a server without TLS (tls = false:
// the proxy reads the frames), and sets $PROXY to its address. It cuts one connection at the
// first request of operation OP (after one of operation AFTER on the same connection, if given):
// before the server gets it, as when the server dies between two commands; with --answered once
// the server has carried it out and answered, before the answer reaches the client. With --down
// N, the N connections after the cut (-1: all) are closed at once, as by a server that is down.
// With --busy N, the first N connections hear a 421 "server busy" greeting and are closed; OP
// may then be left out, to cut none. See servertest.CutProxy.
//
//	cutrequest [--answered] [--down N] [--busy N] [OP [AFTER]]
func cmdCutRequest(ts *testscript.TestScript, neg bool, args []string) {
	var cut servertest.Cut
	for len(args) > 0 && (args[0] == "--answered" || args[0] == "--down" || args[0] == "--busy") {
		if args[0] == "--answered" {
			cut.Answered, args = true, args[1:]
			continue
		}
		if len(args) < 2 {
			ts.Fatalf("cutrequest: %s needs a number", args[0])
		}
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		if args[0] == "--down" {
			cut.Down = n
		} else {
			cut.Busy = n
		}
		args = args[2:]
	}
	if neg || len(args) > 2 || len(args) == 0 && cut.Busy == 0 {
		ts.Fatalf("usage: cutrequest [--answered] [--down N] [--busy N] OP [AFTER]")
	}
	if len(args) > 0 {
		cut.Op = args[0]
	}
	if len(args) == 2 {
		cut.After = args[1]
	}
	p, err := servertest.NewCutProxy(ts.Getenv("ADDR"), cut)
	ts.Check(err)
	ts.Defer(p.Close)
	ts.Value(requestCutKey{}).(*requestCutSlot).p = p
	ts.Setenv("PROXY", p.Addr)
}

// cmdCutDone checks that the last cutrequest proxy has cut its connection (with !, that it has
// not): that the cut came where the script meant it to, and not never.
//
//	cutdone
func cmdCutDone(ts *testscript.TestScript, neg bool, args []string) {
	p := ts.Value(requestCutKey{}).(*requestCutSlot).p
	if len(args) != 0 || p == nil {
		ts.Fatalf("usage: cutdone (after cutrequest)")
	}
	select {
	case <-p.Done():
		if neg {
			ts.Fatalf("the proxy cut a connection")
		}
	default:
		if !neg {
			ts.Fatalf("the proxy did not cut a connection")
		}
	}
}
