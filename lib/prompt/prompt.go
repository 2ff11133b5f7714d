// Package prompt reads what a person types: lines that can be interrupted by a context, and
// passwords without echo on a terminal, put back as they were when Ctrl-C cuts the read short.
// create_user and myftpc share it.
package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/term"
)

// ErrNoInput is the end of input where an answer was expected.
var ErrNoInput = errors.New("unexpected end of input")

// Await runs read, which may block on a terminal or a pipe, and returns its result, or ctx.Err()
// as soon as ctx ends. An abandoned read stays blocked until the process exits, so the caller must
// not read from the same input again.
func Await[T any](ctx context.Context, read func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := read()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Password reads one line from the terminal fd with echo off. If ctx ends first (Ctrl-C), it puts
// the terminal back as it was, so that echo is not left off, and returns ctx.Err(). The end of
// input is ErrNoInput.
//
// A read abandoned before it turned echo off could still turn it off after the restore; checking
// ctx first leaves only the moment between starting the read and its first system call.
func Password(ctx context.Context, fd int) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	pw, err := Await(ctx, func() (string, error) {
		b, err := term.ReadPassword(fd)
		if errors.Is(err, io.EOF) {
			return "", ErrNoInput
		}
		return string(b), err
	})
	if ctx.Err() != nil {
		term.Restore(fd, state)
	}
	return pw, err
}
