package shell

import (
	"context"
	"testing"
)

// TestInterruptBetweenCommands: once the interactive shell is up, an interrupt that arrives as a
// signal while no command runs (Ctrl-C typed as a command ends, before the line editor reads the
// keyboard again) ends nothing; one during a command stops the command only. Before the prompt
// (at the Name: or Password: prompts) it ends the run.
func TestInterruptBetweenCommands(t *testing.T) {
	var i interrupter
	quit := 0
	i.fire(func() { quit++ })
	if quit != 1 {
		t.Fatalf("before the prompt: quit %d times, want 1", quit)
	}
	i.atPrompt()
	i.fire(func() { quit++ })
	ctx, done := i.command(context.Background())
	i.fire(func() { quit++ })
	done()
	if quit != 1 || ctx.Err() == nil {
		t.Errorf("at the prompt: quit %d times (want 1 in all), command context %v (want cancelled)", quit, ctx.Err())
	}
}
