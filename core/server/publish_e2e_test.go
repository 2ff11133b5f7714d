package server_test

import (
	"fmt"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/proto"
)

// TestPipelinedUploadsPublishInOrder: uploads sent back to back without waiting (as mput does)
// are published in the background, yet every reply comes in the order of the requests, an upload
// of a name that the previous one is still publishing replaces it instead of meeting "busy", and
// a request sent right behind them (stat, get, list) sees every one of them stored.
func TestPipelinedUploadsPublishInOrder(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := rawLogin(t, e.Addr, xUser, xPass)
	const n = 40
	versions := map[string][]byte{}
	var names []string
	for i := range n {
		name := fmt.Sprintf("f%02d.bin", i/2) // each name twice in a row
		data := randomData(1000+i, uint64(80+i))
		versions[name] = data
		names = append(names, name)
		if err := c.w.WriteJSON(proto.TypeRequest, proto.Request{Op: proto.OpPut, Path: name, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if err := c.w.WriteFrame(proto.TypeData, data); err != nil {
			t.Fatal(err)
		}
		if err := c.w.WriteJSON(proto.TypeRequest, proto.Request{Op: proto.OpDone, MD5: md5hex(data)}); err != nil {
			t.Fatal(err)
		}
	}
	last := names[n-1]
	c.w.WriteJSON(proto.TypeRequest, proto.Request{Op: proto.OpStat, Path: last})
	if err := c.w.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		if rep := c.reply(); rep.Code != proto.CodeSendData {
			t.Fatalf("upload %d (%s): put got %d %q", i, name, rep.Code, rep.Msg)
		}
		if rep := c.reply(); rep.Code != proto.CodeOK {
			t.Fatalf("upload %d (%s): data got %d %q", i, name, rep.Code, rep.Msg)
		}
		rep := c.reply()
		if rep.Code != proto.CodeTransferDone || rep.Msg != "File ["+name+"] upload successful" {
			t.Fatalf("upload %d (%s): done got %d %q", i, name, rep.Code, rep.Msg)
		}
	}
	if rep := c.reply(); rep.Code != proto.CodeStat || rep.Entry == nil || rep.Entry.Size != int64(len(versions[last])) {
		t.Fatalf("stat right behind the uploads: %+v", rep)
	}
	for name, data := range versions {
		if got := mustRead(t, e.onServer(name)); string(got) != string(data) {
			t.Errorf("%s holds %d bytes that are not its last version (%d bytes)", name, len(got), len(data))
		}
	}
	if p := e.partials(t); len(p) != 0 {
		t.Errorf("unfinished uploads left: %v", p)
	}
	usageIsDisk(t, "after the pipelined uploads", e.login(t), e.Home(xUser))
}
