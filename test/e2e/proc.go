package e2e

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a child process the harness started and must stop: the
// daemon or a VM.
type Proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
	log  *slog.Logger
}

// startProc starts cmd as name. The child gets its own process group, so
// a Ctrl-C on the terminal reaches only the harness, which then stops
// its children in order; and it is killed by the kernel if the harness
// dies without stopping it (Pdeathsig survives the exec of "ip netns
// exec").
func startProc(name string, cmd *exec.Cmd, log *slog.Logger) (*Proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// The context of exec.CommandContext would only SIGKILL; Stop does
	// better, so the command is never tied to one.
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	log.Info("started", "proc", name, "pid", cmd.Process.Pid)
	return p, nil
}

// PID is the process's ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process (by its PID, nothing else), waits up
// to grace for it to exit, then kills it. It returns an error only if the
// process could not be made to exit.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.log.Warn("SIGTERM failed", "proc", p.name, "pid", p.PID(), "err", err)
	}
	select {
	case <-p.done:
		p.log.Info("stopped", "proc", p.name, "pid", p.PID())
		return nil
	case <-time.After(grace):
	}
	p.log.Warn("did not stop in time; killing", "proc", p.name, "pid", p.PID(), "grace", grace)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, p.PID())
	}
}
