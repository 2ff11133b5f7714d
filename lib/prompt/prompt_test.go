package prompt

import (
	"context"
	"errors"
	"testing"
)

func TestAwaitReturnsTheRead(t *testing.T) {
	got, err := Await(context.Background(), func() (string, error) { return "alice", nil })
	if got != "alice" || err != nil {
		t.Fatalf("Await = %q, %v", got, err)
	}
	boom := errors.New("boom")
	if _, err := Await(context.Background(), func() (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("Await error = %v, want the read's error", err)
	}
}

// TestAwaitStopsOnCancel checks that a read that never returns does not hold the caller once the
// context ends (as Ctrl-C at a prompt does).
func TestAwaitStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := Await(ctx, func() (string, error) { close(started); <-block; return "late", nil })
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Await after cancel = %v, want context.Canceled", err)
	}
}

func TestPasswordOnANonTerminal(t *testing.T) {
	if _, err := Password(context.Background(), -1); err == nil {
		t.Fatal("Password on an invalid descriptor succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Password(ctx, -1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Password with an ended context = %v, want context.Canceled", err)
	}
}
