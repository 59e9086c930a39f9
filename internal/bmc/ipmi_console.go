package bmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/app"
	"github.com/bougou/go-ipmi/pkg/command/transport"
	"github.com/bougou/go-ipmi/pkg/types"
)

// solInstance is the serial over LAN payload instance: a BMC has one
// serial console, as ipmitool assumes.
const solInstance = 1

// releaseTimeout bounds the release of the console and the session at
// the end when ConsoleOptions.Connect is not set.
const releaseTimeout = 10 * time.Second

// The completion codes of Activate Payload (IPMI 2.0 §24.1).
const (
	ccPayloadActive   = 0x80
	ccPayloadDisabled = 0x81
	ccPayloadLimit    = 0x82
	ccNoEncryption    = 0x83
)

// Console is IPMI 2.0 serial over LAN: one session, the SOL payload
// activated (encrypted and authenticated, as the session is), the user's
// input through the escape sequences of the node's escape character, and
// the payload deactivated and the session closed on every way out, within
// o.Connect even when ctx has ended. When the BMC stops answering, the
// console says so on o.Messages and reconnects with a new session, up to
// maxStalls times in a row.
func (d *ipmiDriver) Console(ctx context.Context, in io.Reader, out io.Writer, o ConsoleOptions) error {
	if d.intf != client.InterfaceLanplus {
		return fmt.Errorf("serial over LAN needs IPMI 2.0: the node's ipmi interface is %q; set it to lanplus: %w", d.t.Interface, ErrUnsupported)
	}
	esc, err := EscapeChar(d.t.EscapeChar)
	if err != nil {
		return err
	}
	connectCtx, cancel := ctx, context.CancelFunc(func() {})
	if o.Connect > 0 {
		connectCtx, cancel = context.WithTimeout(ctx, o.Connect)
	}
	defer cancel()
	release := func() (context.Context, context.CancelFunc) {
		t := o.Connect
		if t <= 0 {
			t = releaseTimeout
		}
		return context.WithTimeout(context.WithoutCancel(ctx), t)
	}

	c, err := d.open(connectCtx)
	if err != nil {
		return err
	}
	if err := d.activate(connectCtx, c, o.Force); err != nil {
		rctx, cancel := release()
		defer cancel()
		_ = c.Close(rctx)
		return err
	}
	if o.Ready != nil {
		o.Ready()
	}
	msg := o.Messages
	if msg == nil {
		msg = io.Discard
	}
	input := newConsoleInput(newEscapeReader(in, esc, msg))
	defer input.close()
	stalls := 0
	for {
		started := time.Now()
		stream := input.stream()
		err = c.SOLStream(ctx, stream, out, nil)
		stream.close()

		// The console is released and the session closed whatever ended
		// it, with a deadline of their own: ctx may have ended. A console
		// that another session took over (--force) is not ours to release.
		rctx, cancel := release()
		owns := ownsConsole(rctx, c)
		if owns {
			_, _ = c.DeactivatePayload(rctx, &transport.DeactivatePayloadRequest{PayloadType: types.PayloadTypeSOL, PayloadInstance: solInstance})
		}
		_ = c.Close(rctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("serial over LAN: %w", context.Cause(ctx))
		case !owns:
			return fmt.Errorf("serial over LAN: %w: another session took the console over", ErrBusy)
		case strings.Contains(err.Error(), "SOL deactivation"):
			return fmt.Errorf("serial over LAN: %w: the BMC ended the console", ErrRefused)
		}
		err = c.w.classify(ctx, "serial over LAN", err)
		// A BMC that stopped answering (busy, a lost datagram too many)
		// gets a new session, as conman and ipmiconsole do; one that
		// keeps failing within a minute does not.
		if time.Since(started) > stallReset {
			stalls = 0
		}
		if !errors.Is(err, ErrTimeout) || stalls == maxStalls {
			return err
		}
		stalls++
		fmt.Fprintf(msg, "\r\n[console: %v; reconnecting (%d of %d)]\r\n", err, stalls, maxStalls)
		if c, err = d.reconnect(ctx, o.Connect); err != nil {
			return err
		}
		fmt.Fprintf(msg, "[console: reconnected]\r\n")
	}
}

// Reconnecting after the BMC stopped answering: at most maxStalls times
// in a row, the count starting again after a stream that lasted
// stallReset.
const (
	maxStalls  = 3
	stallReset = time.Minute
)

// reconnect opens a new session and takes the console over: the payload
// may still be active for the session that stopped answering.
func (d *ipmiDriver) reconnect(ctx context.Context, connect time.Duration) (*conn, error) {
	if connect > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connect)
		defer cancel()
	}
	c, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.activate(ctx, c, true); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		_ = c.Close(rctx)
		return nil, err
	}
	return c, nil
}

// activate activates the SOL payload; with force it first deactivates
// the one another session holds.
func (d *ipmiDriver) activate(ctx context.Context, c *conn, force bool) error {
	req := &transport.ActivatePayloadRequest{
		PayloadType: types.PayloadTypeSOL, PayloadInstance: solInstance,
		// Encrypted and authenticated as the session is (cipher suite
		// 17 or 3): what is typed at a login prompt stays off the wire.
		EnableEncryption: true, EnableAuthentication: true,
		SharedSerialAlertBehavior: transport.SharedSerialAlertBehavior_Defer,
	}
	_, err := c.ActivatePayload(ctx, req)
	if err != nil && force && completion(err) == ccPayloadActive {
		if _, derr := c.DeactivatePayload(ctx, &transport.DeactivatePayloadRequest{PayloadType: types.PayloadTypeSOL, PayloadInstance: solInstance}); derr != nil {
			return c.w.classify(ctx, "deactivate the console another session holds", derr)
		}
		_, err = c.ActivatePayload(ctx, req)
	}
	if err == nil {
		return nil
	}
	switch completion(err) {
	case ccPayloadActive:
		return fmt.Errorf("activate serial over LAN: %w: another session holds the console (another wwctl node console or ipmitool sol activate, or one that ended without releasing it); --force takes it over", ErrBusy)
	case ccPayloadDisabled:
		return fmt.Errorf("activate serial over LAN: %w by the BMC: serial over LAN is disabled on this BMC (ipmitool sol set enabled true)", ErrRefused)
	case ccPayloadLimit:
		return fmt.Errorf("activate serial over LAN: %w: the BMC's limit of console sessions is reached", ErrBusy)
	case ccNoEncryption:
		return fmt.Errorf("activate serial over LAN: %w by the BMC: it cannot encrypt the console", ErrRefused)
	}
	return c.w.classify(ctx, "activate serial over LAN", err)
}

// ownsConsole reports whether c's session holds the SOL payload: the
// session its instance is active over (Get Payload Instance Info) is c's
// own (Get Session Info of both, compared by handle). A BMC that cannot
// say is taken to mean yes, as ipmitool deactivates blindly.
func ownsConsole(ctx context.Context, c *conn) bool {
	st, err := c.GetPayloadActivationStatus(ctx, types.PayloadTypeSOL)
	if err != nil {
		return true
	}
	if !st.Instance01Activated {
		return false
	}
	info, err := c.GetPayloadInstanceInfo(ctx, types.PayloadTypeSOL, solInstance)
	if err != nil {
		return true
	}
	mine, err := c.GetSessionInfo(ctx, &app.GetSessionInfoRequest{SessionIndex: 0})
	if err != nil {
		return true
	}
	holder, err := c.GetSessionInfo(ctx, &app.GetSessionInfoRequest{SessionIndex: 0xff, SessionID: info.SessionID})
	if err != nil {
		return true
	}
	return mine.SessionHandle == holder.SessionHandle
}

// completion is err's IPMI completion code, 0 when it has none.
func completion(err error) uint8 {
	var rsp *types.ResponseError
	if errors.As(err, &rsp) {
		return uint8(rsp.CompletionCode())
	}
	return 0
}
