package redfishsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// QMP is a QEMU VM as the machine, driven through its QMP socket. The VM
// is started paused (-S) to be off, and with -no-shutdown so that a
// guest's power-off leaves it shut down (off) rather than gone:
//
//	qemu-system-x86_64 -S -no-shutdown -qmp unix:SOCK,server=on,wait=off ...
//
// On is "cont" (after "system_reset" when the guest shut itself down),
// ForceOff "stop" then "system_reset" (the next On boots afresh),
// GracefulShutdown "system_powerdown" (ACPI), ForceRestart
// "system_reset", PowerCycle ForceOff then On. The power state is
// query-status: running is On, anything else Off. The boot override is
// only recorded: QEMU's boot order cannot be changed through QMP.
type QMP struct {
	panel
	socket string
	mu     sync.Mutex // one QMP client at a time
}

// NewQMP returns the machine behind the QMP socket at path.
func NewQMP(socket string) *QMP { return &QMP{panel: newPanel(), socket: socket} }

// qmpTimeout bounds one exchange when the caller's context has no
// deadline.
const qmpTimeout = 10 * time.Second

// qmpConn is one QMP session: greeting read, capabilities negotiated.
type qmpConn struct {
	c net.Conn
	r *bufio.Reader
}

// QMPError is an error QEMU answered a command with.
type QMPError struct {
	Command, Class, Desc string
}

func (e *QMPError) Error() string {
	return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
}

func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(qmpTimeout)
	}
	if err := c.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, fmt.Errorf("qmp: %w", err)
	}
	q := &qmpConn{c: c, r: bufio.NewReader(c)}
	var greeting struct {
		QMP *json.RawMessage `json:"QMP"`
	}
	line, err := q.r.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &greeting)
	}
	if err == nil && greeting.QMP == nil {
		err = fmt.Errorf("no QMP greeting: %.80q", line)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("qmp %s: greeting: %w", path, err)
	}
	if _, err := q.execute("qmp_capabilities", nil); err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

// execute sends one command and returns its "return", skipping the
// events QEMU sends meanwhile.
func (q *qmpConn) execute(cmd string, args any) (json.RawMessage, error) {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		var m struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("qmp %s: %w in %.80q", cmd, err, line)
		}
		switch {
		case m.Event != "":
			continue
		case m.Error != nil:
			return nil, &QMPError{Command: cmd, Class: m.Error.Class, Desc: m.Error.Desc}
		case m.Return != nil:
			return m.Return, nil
		}
		return nil, fmt.Errorf("qmp %s: unexpected answer %.80q", cmd, line)
	}
}

// run opens a session, runs f and closes the session.
func (m *QMP) run(ctx context.Context, f func(q *qmpConn) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := dialQMP(ctx, m.socket)
	if err != nil {
		return err
	}
	defer q.c.Close()
	return f(q)
}

// Status is QEMU's run state (query-status): prelaunch, running,
// paused, shutdown, ...
func (m *QMP) Status(ctx context.Context) (string, error) {
	var st string
	err := m.run(ctx, func(q *qmpConn) error {
		var err error
		st, err = status(q)
		return err
	})
	return st, err
}

func status(q *qmpConn) (string, error) {
	ret, err := q.execute("query-status", nil)
	if err != nil {
		return "", err
	}
	var s struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(ret, &s); err != nil {
		return "", fmt.Errorf("qmp query-status: %w", err)
	}
	return s.Status, nil
}

func (m *QMP) PowerState(ctx context.Context) (PowerState, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return "", err
	}
	if st == "running" {
		return On, nil
	}
	return Off, nil
}

func (m *QMP) Reset(ctx context.Context, t string) error {
	return m.run(ctx, func(q *qmpConn) error {
		switch t {
		case "On", "ForceOn":
			return m.powerOn(q)
		case "ForceOff":
			return m.forceOff(q)
		case "GracefulShutdown":
			_, err := q.execute("system_powerdown", nil)
			return err
		case "ForceRestart":
			st, err := status(q)
			if err != nil {
				return err
			}
			if _, err := q.execute("system_reset", nil); err != nil {
				return err
			}
			if st == "running" {
				m.panel.booted()
			}
			return nil
		case "PowerCycle":
			if err := m.forceOff(q); err != nil {
				return err
			}
			return m.powerOn(q)
		}
		return fmt.Errorf("reset type %q is not supported", t)
	})
}

func (m *QMP) forceOff(q *qmpConn) error {
	if _, err := q.execute("stop", nil); err != nil {
		return err
	}
	_, err := q.execute("system_reset", nil)
	return err
}

// powerOn continues a VM that is not running. A guest that shut itself
// down must be reset first; the reset is asynchronous, so cont is tried
// again while QEMU still asks for it.
func (m *QMP) powerOn(q *qmpConn) error {
	st, err := status(q)
	if err != nil {
		return err
	}
	switch st {
	case "running":
		return nil
	case "shutdown", "guest-panicked", "internal-error":
		if _, err := q.execute("system_reset", nil); err != nil {
			return err
		}
	}
	for i := 0; ; i++ {
		_, err = q.execute("cont", nil)
		var qe *QMPError
		if err == nil || i == 50 || !errors.As(err, &qe) || !strings.Contains(strings.ToLower(qe.Desc), "reset") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	m.panel.booted()
	return nil
}
