// Package earlysig catches the signals that sandbox exec forwards to its
// command, from the moment the Go runtime can: while the rest of the
// program's packages initialize, and off the main goroutine.
//
// signal.Notify costs a round trip between two threads of the runtime for
// each signal (seven here, 0.2 to 0.5 ms on a 2-CPU guest, where every
// wakeup of an idle vCPU is an exit to the hypervisor), on the path of
// every run if done when exec sets up. Done here, it overlaps with the
// package init of everything else the binary links (1.5 to 2 ms), and a
// signal sent during that init no longer ends the runner by its default
// action: it waits in the channel for CMD.
//
// Only a process started as `sandbox exec` catches early (the argument
// test mirrors the C constructor's, see zygote_cgo_linux.go); anyone else,
// a test binary calling the subcommand in-process among them, gets nil from
// Signals and calls signal.Notify itself.
package earlysig

import (
	"os"
	"os/signal"
	"syscall"
)

// Forwarded are the signals exec passes on to CMD: every one of the
// caller's that a program would take as meant for it.
var Forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

var (
	ch    chan os.Signal
	ready chan struct{}
)

func init() {
	if len(os.Args) < 2 || os.Args[1] != "exec" {
		return
	}
	ch = make(chan os.Signal, 8)
	ready = make(chan struct{})
	go func() {
		signal.Notify(ch, Forwarded...)
		close(ready)
	}()
}

// Signals returns the channel of the forwarded signals caught early, once
// they are all caught, or nil when none were (see the package comment).
func Signals() <-chan os.Signal {
	if ch == nil {
		return nil
	}
	<-ready
	return ch
}
