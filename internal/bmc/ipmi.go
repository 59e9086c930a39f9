package bmc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// ipmiDriver is IPMI over LAN in process.
type ipmiDriver struct {
	t    Target
	port int
	intf client.Interface
}

func newIPMI(t Target) (*ipmiDriver, error) {
	d := &ipmiDriver{t: t, port: DefaultPort}
	if t.Port != "" {
		p, err := strconv.Atoi(t.Port)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("ipmi port %q is not a port number", t.Port)
		}
		d.port = p
	}
	switch strings.ToLower(t.Interface) {
	case "", "lanplus":
		d.intf = client.InterfaceLanplus
	case "lan":
		d.intf = client.InterfaceLan
	default:
		return nil, fmt.Errorf("ipmi interface %q: %w (want lanplus, lan or redfish)", t.Interface, ErrUnsupported)
	}
	return d, nil
}

// attempt is how long one datagram waits for its answer before it is
// sent again, within the caller's deadline.
const attempt = 2 * time.Second

// session opens a session, runs f and closes the session. Everything is
// bounded by ctx.
func (d *ipmiDriver) session(ctx context.Context, f func(c *conn) error) error {
	c, err := d.open(ctx)
	if err != nil {
		return err
	}
	err = f(c)
	// The session is closed even when the command failed, within what is
	// left of the deadline; a close that fails changes nothing done.
	_ = c.Close(ctx)
	return err
}

// open opens a session, bounded by ctx.
func (d *ipmiDriver) open(ctx context.Context) (*conn, error) {
	c, err := client.NewClient(d.t.Ipaddr, d.port, d.t.UserName, d.t.Password)
	if err != nil {
		return nil, fmt.Errorf("ipmi: %w", err)
	}
	c.WithInterface(d.intf)
	// The connection is ours, to tell a BMC that answers garbage from
	// one that does not answer.
	w := &watchDialer{}
	c.WithUDPProxy(w)
	// Retries within the deadline: a lost datagram costs one attempt,
	// a dead BMC the caller's deadline.
	c.WithTimeout(attempt).WithRetry(4)
	if d.intf == client.InterfaceLanplus {
		// Cipher suite 17 (HMAC-SHA256, AES-128), else 3 (HMAC-SHA1,
		// AES-128), as ipmitool's default is: never the library's search
		// through every suite, which costs a refused password several
		// round trips each.
		c.WithCipherSuiteID(types.CipherSuiteID17, types.CipherSuiteID3)
	}
	if err := c.Connect(ctx); err != nil {
		return nil, w.classify(ctx, "open session", err)
	}
	return &conn{c, w}, nil
}

// conn is an open session.
type conn struct {
	*client.Client
	w *watchDialer
}

// watchDialer dials the BMC's UDP address and counts the datagrams that
// come back, and those that are not RMCP at all, which the library drops
// in silence.
type watchDialer struct{ received, garbage atomic.Int64 }

// isRMCP reports whether a datagram has the RMCP header (ASF 2.0 §3.2.2)
// every IPMI over LAN message has: version 06h, a reserved byte, a
// sequence number, and the class ASF (06h) or IPMI (07h), possibly with
// the acknowledge bit.
func isRMCP(b []byte) bool {
	if len(b) < 4 || b[0] != 0x06 {
		return false
	}
	class := b[3] &^ 0x80
	return class == 0x06 || class == 0x07
}

func (w *watchDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c, w: w}, nil
}

type watchedConn struct {
	net.Conn
	w *watchDialer
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err == nil {
		c.w.received.Add(1)
		if !isRMCP(b[:n]) {
			c.w.garbage.Add(1)
		}
	}
	return n, err
}

// classify wraps err with the cause a caller can test with errors.Is.
func (w *watchDialer) classify(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		if n := w.garbage.Load(); n > 0 {
			return fmt.Errorf("%s: %w: %d datagrams came back that are not RMCP (is this address an IPMI BMC?)", what, ErrBadAnswer, n)
		}
		if strings.Contains(err.Error(), "ActivateSession failed") {
			// IPMI 1.5: a BMC drops a request whose authentication code
			// is wrong; it answered the session challenge just before.
			return fmt.Errorf("%s: %w (the BMC answered the session challenge but not the authenticated request: user name or password refused)", what, ErrAuth)
		}
		if n := w.received.Load(); n > 0 && what == "open session" {
			// RMCP, but nothing that answered the session's requests.
			return fmt.Errorf("%s: %w: %d datagrams came back in time, none a usable answer (is this address an IPMI BMC?)", what, ErrTimeout, n)
		}
		return fmt.Errorf("%s: %w (no answer in time)", what, ErrTimeout)
	}
	// The library's errors may span lines (one per cipher suite tried):
	// a node's error is one line of a table.
	detail := oneLine(err.Error())
	var rmcp *types.RmcpStatusError
	if errors.Is(err, client.ErrRAKPAuthentication) || errors.As(err, &rmcp) && authStatus(rmcp.StatusCode()) {
		return fmt.Errorf("%s: %w (user name or password refused): %s", what, ErrAuth, detail)
	}
	var rsp *types.ResponseError
	if errors.As(err, &rsp) {
		if authCompletion(rsp.CompletionCode()) && what == "open session" {
			return fmt.Errorf("%s: %w (user name or password refused): %s", what, ErrAuth, detail)
		}
		return fmt.Errorf("%s: %w by the BMC: %s", what, ErrRefused, detail)
	}
	if authText(err.Error()) {
		return fmt.Errorf("%s: %w (user name or password refused): %s", what, ErrAuth, detail)
	}
	return fmt.Errorf("%s: %w: %s", what, ErrBadAnswer, detail)
}

// oneLine joins the lines of s with "; ".
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// authStatus reports RMCP+ status codes that refuse the credentials.
func authStatus(c types.RmcpStatusCode) bool {
	switch c {
	case types.RmcpStatusCodeUnauthorizedName, types.RmcpStatusCodeInvalidIntegrityCheckValue,
		types.RmcpStatusCodeInvalidRole, types.RmcpStatusCodeUnauthorizedRoleOfPriLevel,
		types.RmcpStatusCodeInvalidNameLength:
		return true
	}
	return false
}

// authCompletion reports completion codes that IPMI 1.5's Activate
// Session answers to a wrong user name or password.
func authCompletion(c types.CompletionCode) bool {
	switch uint8(c) {
	case 0x81, 0x82, 0x83, 0x84, 0x86:
		return true
	}
	return false
}

// authText recognises the library's wording of a refused password where
// it has no typed error (IPMI 1.5's authentication code mismatch).
func authText(s string) bool {
	s = strings.ToLower(s)
	for _, w := range []string{"authentication code", "authentication failed", "auth code", "authcode", "password",
		"unauthorized", "invalid integrity check", "invalid role", "invalid name length"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "i/o timeout") || strings.Contains(s, "no datagram matched") || strings.Contains(s, "deadline")
}

func (d *ipmiDriver) PowerStatus(ctx context.Context) (PowerState, error) {
	var st PowerState
	err := d.session(ctx, func(c *conn) error {
		r, err := c.GetChassisStatus(ctx)
		if err != nil {
			return c.w.classify(ctx, "get chassis status", err)
		}
		st = PowerOff
		if r.PowerIsOn {
			st = PowerOn
		}
		return nil
	})
	return st, err
}

func (d *ipmiDriver) Power(ctx context.Context, a PowerAction) error {
	controls := map[PowerAction]chassis.ChassisControl{
		ActionOn:    chassis.ChassisControlPowerUp,
		ActionOff:   chassis.ChassisControlPowerDown,
		ActionCycle: chassis.ChassisControlPowerCycle,
		ActionReset: chassis.ChassisControlHardReset,
		ActionSoft:  chassis.ChassisControlSoftShutdown,
	}
	ctl, ok := controls[a]
	if !ok {
		return fmt.Errorf("unknown power action %q", a)
	}
	return d.session(ctx, func(c *conn) error {
		if _, err := c.ChassisControl(ctx, ctl); err != nil {
			return c.w.classify(ctx, "chassis power "+string(a), err)
		}
		return nil
	})
}

func (d *ipmiDriver) SetBootDevice(ctx context.Context, dev BootDevice, persistent bool) error {
	selectors := map[BootDevice]types.BootDeviceSelector{
		BootPXE:  types.BootDeviceSelectorForcePXE,
		BootDisk: types.BootDeviceSelectorForceHardDrive,
		BootBIOS: types.BootDeviceSelectorForceBIOSSetup,
	}
	sel, ok := selectors[dev]
	if !ok {
		return fmt.Errorf("unknown boot device %q", dev)
	}
	return d.session(ctx, func(c *conn) error {
		if err := c.SetBootDevice(ctx, sel, types.BIOSBootTypeLegacy, persistent); err != nil {
			return c.w.classify(ctx, "set boot device "+string(dev), err)
		}
		return nil
	})
}

func (d *ipmiDriver) Identify(ctx context.Context, on bool) error {
	return d.session(ctx, func(c *conn) error {
		// On: "force on" until turned off; off: an interval of 0.
		if _, err := c.ChassisIdentify(ctx, 0, on); err != nil {
			return c.w.classify(ctx, "chassis identify", err)
		}
		return nil
	})
}

func (d *ipmiDriver) Sensors(ctx context.Context, full bool) ([]Sensor, error) {
	var out []Sensor
	err := d.session(ctx, func(c *conn) error {
		ss, err := c.GetSensors(ctx)
		if err != nil {
			return c.w.classify(ctx, "read sensors", err)
		}
		out = make([]Sensor, 0, len(ss))
		for _, s := range ss {
			if s != nil {
				out = append(out, fromIPMI(s, full))
			}
		}
		return nil
	})
	return out, err
}

func (d *ipmiDriver) Describe(r Request) string {
	user := d.t.UserName
	if user == "" {
		user = "(anonymous)"
	}
	return fmt.Sprintf("ipmi %s %s@%s: %s", d.intf, user, d.t.Address(), r)
}

// fromIPMI is a sensor record as wwctl shows it.
func fromIPMI(s *types.Sensor, full bool) Sensor {
	out := Sensor{
		Name:    cleanText(s.Name),
		Type:    cleanText(s.SensorType.String()),
		Reading: "na",
		Status:  cleanText(s.Status()),
	}
	switch {
	case s.NotPresent || s.ScanningDisabled || !s.IsReadingValid():
	case s.IsThreshold():
		out.Reading = strconv.FormatFloat(s.Value, 'f', -1, 64)
		out.Unit = cleanText(s.SensorUnit.String())
	default:
		out.Reading = fmt.Sprintf("0x%02x", s.Raw)
	}
	if full && s.IsThreshold() {
		out.Thresholds = map[string]string{}
		kinds := []types.SensorThresholdType{types.SensorThresholdType_LNR, types.SensorThresholdType_LCR,
			types.SensorThresholdType_LNC, types.SensorThresholdType_UNC, types.SensorThresholdType_UCR,
			types.SensorThresholdType_UNR}
		for i, k := range kinds {
			v := "na"
			if s.IsThresholdReadable(k) {
				v = strconv.FormatFloat(s.ConvertReading(s.SensorThreshold(k).Raw), 'f', -1, 64)
			}
			out.Thresholds[ThresholdNames()[i]] = v
		}
	}
	return out
}

// cleanText keeps the printable characters of a BMC's text (an SDR's ID
// string is bytes the BMC chose): no control characters, C0 or C1, reach
// a terminal.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
