package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

func TestSmoke(t *testing.T) {
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("alice", "pw", 0)
	c := e.Login("alice", "pw")
	if p, err := c.Pwd(); err != nil || p != "/" {
		t.Fatalf("pwd %q %v", p, err)
	}
	if _, err := c.Mkdir("docs", false); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Cd("docs"); err != nil || p != "/docs" {
		t.Fatalf("cd %q %v", p, err)
	}
	local := filepath.Join(t.TempDir(), "a.bin")
	data := make([]byte, 3<<20+7)
	rand.Read(data)
	os.WriteFile(local, data, 0o644)
	res, err := c.Put(context.Background(), local, "", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("put %+v", res)
	var names []string
	if err := c.List("", true, func(e proto.Entry) error { names = append(names, e.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	t.Log(names)
	out := filepath.Join(t.TempDir(), "b.bin")
	res, err = c.Get(context.Background(), "a.bin", out, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("get %+v", res)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	used, quota, err := c.Quota()
	t.Log(used, quota, err)
	x, _ := os.ReadFile(e.Xferlog)
	t.Log(string(x))
}

func TestSmokeMany(t *testing.T) {
	e := servertest.Start(t, servertest.Options{})
	e.AddUser("alice", "pw", 0)
	c := e.Login("alice", "pw")
	dir := t.TempDir()
	var items []client.Item
	for i := range 300 {
		name := filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		os.WriteFile(name, bytes.Repeat([]byte{byte(i)}, 4096+i), 0o644)
		items = append(items, client.Item{Local: name})
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 3<<20), 0o644)
	items = append(items, client.Item{Local: big})
	n := 0
	if err := c.PutMany(context.Background(), items, client.Options{}, func(i int, r client.Result, err error) {
		if err != nil {
			t.Error(i, err)
		}
		n++
	}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var gets []client.Item
	for _, it := range items {
		gets = append(gets, client.Item{Remote: filepath.Base(it.Local), Local: out})
	}
	if err := c.GetMany(context.Background(), gets, client.Options{}, func(i int, r client.Result, err error) {
		if err != nil {
			t.Error(i, err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		a, _ := os.ReadFile(it.Local)
		b, _ := os.ReadFile(filepath.Join(out, filepath.Base(it.Local)))
		if !bytes.Equal(a, b) {
			t.Fatal("differs", it.Local)
		}
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
}
