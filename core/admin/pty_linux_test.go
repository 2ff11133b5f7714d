package admin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/myftp/myftp/lib/account"
)

// openPTY returns the two ends of a new pseudo-terminal, closed when the test ends.
func openPTY(t *testing.T) (ctrl, tty *os.File) {
	t.Helper()
	ctrl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var n int
	conn, err := ctrl.SyscallConn()
	if err == nil {
		err = conn.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
				n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			}
		})
	}
	if err == nil {
		tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		ctrl.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ctrl.Close(); tty.Close() })
	return ctrl, tty
}

// promptWriter is stdout for Main: it keeps the output and announces every prompt.
type promptWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	prompts chan string
}

func (w *promptWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	if bytes.HasSuffix(p, []byte(": ")) {
		w.prompts <- string(p)
	}
	return len(p), nil
}

func (w *promptWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func echoOn(t *testing.T, tty *os.File) bool {
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// awaitPasswordPrompt waits for the next prompt, then until the terminal's echo is off: the
// program is then reading the password.
func awaitPasswordPrompt(t *testing.T, out *promptWriter, tty *os.File, want string) {
	t.Helper()
	select {
	case p := <-out.prompts:
		if p != want {
			t.Fatalf("prompt %q, want %q", p, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no prompt %q; output so far %q", want, out.String())
	}
	for deadline := time.Now().Add(10 * time.Second); echoOn(t, tty); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("echo still on at prompt %q", want)
		}
	}
}

// start runs Main with the terminal as stdin.
func start(ctx context.Context, tty *os.File, out *promptWriter, args ...string) <-chan int {
	done := make(chan int, 1)
	go func() { done <- Main(ctx, args, tty, out, io.Discard) }()
	return done
}

func TestPasswordNotEchoed(t *testing.T) {
	ctrl, tty := openPTY(t)
	root := newRoot(t)
	echoed := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(ctrl); echoed <- b }()
	out := &promptWriter{prompts: make(chan string, 8)}
	done := start(context.Background(), tty, out, "--root", root, "--account", "carol")
	for _, prompt := range []string{"Password: ", "Retype password: "} {
		awaitPasswordPrompt(t, out, tty, prompt)
		ctrl.Write([]byte("s3cret-pw\n"))
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
	if !echoOn(t, tty) {
		t.Error("echo is still off after the password was read")
	}
	tty.Close() // the controller's reads end once the terminal's output is drained
	if b := <-echoed; bytes.Contains(b, []byte("s3cret-pw")) {
		t.Errorf("the terminal echoed the password: %q", b)
	}
	if !strings.HasPrefix(out.String(), "Password: \nRetype password: \n=====") || strings.Contains(out.String(), "s3cret-pw") {
		t.Errorf("stdout %q", out.String())
	}
	if ok, _ := account.VerifyPassword(getAccount(t, root, "carol").PasswordHash, "s3cret-pw"); !ok {
		t.Error("the stored hash does not match the typed password")
	}
}

func TestInterruptRestoresEcho(t *testing.T) {
	ctrl, tty := openPTY(t)
	go io.Copy(io.Discard, ctrl)
	root := newRoot(t)
	if code, _, stderr := runMain(t, root, "pass-word\n", "--account", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &promptWriter{prompts: make(chan string, 8)}
	done := start(ctx, tty, out, "--root", root, "passwd", "alice")
	awaitPasswordPrompt(t, out, tty, "New password: ")
	cancel()
	if code := <-done; code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if !echoOn(t, tty) {
		t.Error("echo is still off after Ctrl-C at the password prompt")
	}
	ctrl.Write([]byte("\n")) // ends the abandoned read
}
