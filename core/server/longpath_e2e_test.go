package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// TestPathTooLong: a path over 4,096 bytes in any request that takes one gets 501 and the session
// goes on; the Go client does not even send it (client.ErrTooLong), and its connection goes on.
func TestPathTooLong(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("al", "al-password", 1<<20)
	long := strings.Repeat("a/", 2049)
	raw := rawLogin(t, e.Addr, "al", "al-password")
	for _, req := range []proto.Request{
		{Op: proto.OpCd, Path: long}, {Op: proto.OpList, Path: long}, {Op: proto.OpStat, Path: long},
		{Op: proto.OpGet, Path: long}, {Op: proto.OpRm, Path: long}, {Op: proto.OpRmdir, Path: long},
		{Op: proto.OpMkdir, Path: long}, {Op: proto.OpPut, Path: long, Size: 1}, {Op: proto.OpSum, Path: long},
		{Op: proto.OpRename, Path: long, To: "x"}, {Op: proto.OpRename, Path: "x", To: long},
	} {
		raw.request(req)
		raw.expect(proto.CodeBadArgs, "path longer than 4096 bytes")
	}
	raw.request(proto.Request{Op: proto.OpPwd})
	raw.expect(proto.CodePath, "/")

	c := e.Login("al", "al-password")
	if _, err := c.Cd(long); !errors.Is(err, client.ErrTooLong) {
		t.Fatalf("cd with a path of %d bytes: %v, want client.ErrTooLong", len(long), err)
	}
	if p, err := c.Pwd(); err != nil || p != "/" {
		t.Fatalf("pwd after: %q, %v", p, err)
	}
}
