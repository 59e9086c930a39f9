package bmc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/common"
	"github.com/stmcginnis/gofish/redfish"
)

// SystemTag is the node's "ipmi tags" key that names its system (by Id,
// @odata.id or Name) on a Redfish BMC that manages several; a BMC with
// one system needs none.
const SystemTag = "redfish system"

// maxRedfishBody bounds one Redfish answer: a BMC that sends more is
// broken or hostile, and is not read to the end.
const maxRedfishBody = 8 << 20

// redfishDriver is Redfish over HTTPS in process (github.com/stmcginnis/gofish).
type redfishDriver struct {
	t        Target
	endpoint string // https://host:port
	insecure bool
	roots    func() (*x509.CertPool, error)
}

func newRedfish(t Target, o Options) (*redfishDriver, error) {
	if t.Port != "" {
		p, err := strconv.Atoi(t.Port)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("ipmi port %q is not a port number", t.Port)
		}
	}
	roots := o.roots
	if roots == nil {
		roots = func() (*x509.CertPool, error) { return loadRoots(o.RedfishCA) }
	}
	return &redfishDriver{t: t, endpoint: "https://" + t.Address(), insecure: o.RedfishInsecure, roots: roots}, nil
}

// loadRoots reads a PEM file of trusted certificates; "" is the system's
// roots (nil).
func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ipmi.redfish ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ipmi.redfish ca: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// rfConn is one exchange with the BMC: its service and the node's system.
type rfConn struct {
	api *gofish.APIClient
	sys *redfish.ComputerSystem
	// extra is what gofish leaves out of the system.
	extra systemExtra
}

// systemExtra is the part of a ComputerSystem gofish does not expose (or
// cannot tell absent from zero).
type systemExtra struct {
	Actions struct {
		Reset struct {
			Target string `json:"target"`
		} `json:"#ComputerSystem.Reset"`
	}
	LocationIndicatorActive *bool
	Links                   struct {
		Chassis []odataLink
	}
}

type odataLink struct {
	ID string `json:"@odata.id"`
}

// session connects (service root, then the node's system), runs f and
// lets the connection go. Authentication is HTTP Basic, which every
// Redfish service must accept: one exchange per command, and no session
// left open on the BMC when the deadline cuts it short (BMCs have few).
func (d *redfishDriver) session(ctx context.Context, f func(c *rfConn) error) error {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.insecure {
		tc.InsecureSkipVerify = true // warewulf.conf's ipmi.redfish insecure, documented as dangerous
	} else {
		roots, err := d.roots()
		if err != nil {
			return err
		}
		tc.RootCAs = roots
	}
	tr := &http.Transport{
		// Never a proxy from the environment: BMCs are on the site's
		// management network.
		Proxy:           nil,
		DialContext:     (&net.Dialer{}).DialContext,
		TLSClientConfig: tc,
		MaxIdleConns:    1,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: bounded{tr}}
	api, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint:   d.endpoint,
		Username:   d.t.UserName,
		Password:   d.t.Password,
		BasicAuth:  true,
		HTTPClient: hc,
	})
	if err != nil {
		return d.notRedfish(ctx, err)
	}
	if api.Service == nil || api.Service.RedfishVersion == "" {
		return fmt.Errorf("%w: not a Redfish service (GET %s: no RedfishVersion)", ErrBadAnswer, common.DefaultServiceRoot)
	}
	c := &rfConn{api: api}
	if c.sys, err = d.system(ctx, api); err != nil {
		return err
	}
	if err := json.Unmarshal(c.sys.RawData, &c.extra); err != nil {
		return fmt.Errorf("GET %s: %w: %v", c.sys.ODataID, ErrBadAnswer, err)
	}
	return f(c)
}

// bounded keeps the connection open across the requests of one command
// (gofish asks for a new one each time) and cuts answers longer than
// maxRedfishBody.
type bounded struct{ rt http.RoundTripper }

func (b bounded) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Close = false
	r.Header.Del("Connection")
	resp, err := b.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxRedfishBody}
	return resp, nil
}

var errTooLong = fmt.Errorf("answer longer than %d MiB", maxRedfishBody>>20)

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooLong
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }

// system is the node's system: the one named by its "redfish system"
// tag, else the only one.
func (d *redfishDriver) system(ctx context.Context, api *gofish.APIClient) (*redfish.ComputerSystem, error) {
	systems, err := api.Service.Systems()
	if err != nil {
		return nil, d.classify(ctx, "GET Systems", err)
	}
	want := strings.TrimSpace(d.t.Tags[SystemTag])
	var ids []string
	for _, s := range systems {
		if want != "" && (s.ID == want || s.ODataID == want || s.Name == want) {
			return s, nil
		}
		ids = append(ids, cleanText(s.ID))
	}
	slices.Sort(ids)
	switch {
	case want != "":
		return nil, fmt.Errorf("the BMC has no system %q (ipmi tag %q); its systems: %s", want, SystemTag, listOrNone(ids))
	case len(systems) == 1:
		return systems[0], nil
	case len(systems) == 0:
		return nil, fmt.Errorf("GET Systems: %w: the Redfish service lists no system", ErrBadAnswer)
	}
	return nil, fmt.Errorf("the BMC has %d systems (%s): set the node's ipmi tag %q to one of them", len(ids), strings.Join(ids, ", "), SystemTag)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// notRedfish classifies a failure to read the service root: an HTTP
// answer that is not a Redfish service root says so.
func (d *redfishDriver) notRedfish(ctx context.Context, err error) error {
	e := d.classify(ctx, "GET "+common.DefaultServiceRoot, err)
	if e.kind == ErrBadAnswer || e.kind == ErrRefused && e.status != http.StatusForbidden {
		return &rfError{kind: ErrBadAnswer, what: e.what, cause: "not a Redfish service: " + e.cause}
	}
	return e
}

// rfError is a classified failure: what was being done, its kind (which
// errors.Is finds) and its cause, as "GET /redfish/v1/Systems: timeout
// (no answer in time)".
type rfError struct {
	kind   error
	what   string
	cause  string
	status int // the HTTP status, if any
}

func (e *rfError) Error() string        { return fmt.Sprintf("%s: %v (%s)", e.what, e.kind, e.cause) }
func (e *rfError) Is(target error) bool { return target == e.kind }

// classify names the cause of err (errors.Is finds ErrTimeout, ErrAuth,
// ErrCertificate, ErrConnect, ErrRefused or ErrBadAnswer) with what was
// being done. Nothing of the request but its method and path is told:
// never the password.
func (d *redfishDriver) classify(ctx context.Context, what string, err error) *rfError {
	var ce *common.CollectionError
	if errors.As(err, &ce) && len(ce.Failures) > 0 {
		links := make([]string, 0, len(ce.Failures))
		for l := range ce.Failures {
			links = append(links, l)
		}
		slices.Sort(links)
		what, err = "GET "+links[0], ce.Failures[links[0]]
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		re  *common.Error
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rh  tls.RecordHeaderError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		op  *net.OpError
	)
	e := &rfError{kind: ErrBadAnswer, what: what}
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e.kind, e.cause = ErrTimeout, "no answer in time"
	case errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci):
		cause := err.Error()
		if cve != nil {
			cause = cve.Err.Error()
		}
		e.kind, e.cause = ErrCertificate, cause+"; set warewulf.conf's ipmi: redfish ca: to a PEM file of the BMC's certificate or of the CA that signed it"
	case errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		e.cause = d.t.Address() + " does not speak HTTPS"
	case errors.Is(err, syscall.ECONNREFUSED):
		e.kind, e.cause = ErrConnect, "connection refused: is "+d.t.Address()+" the BMC's Redfish HTTPS port?"
	case errors.As(err, &op) && op.Op == "dial":
		e.kind, e.cause = ErrConnect, op.Err.Error()
	case errors.As(err, &re):
		httpStatus(e, re)
	case errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		e.cause = "not JSON: " + clip(err.Error())
	default:
		e.cause = clip(err.Error())
	}
	return e
}

// httpStatus fills e from an HTTP status the BMC refused a request with,
// and its Redfish message when it sent one.
func httpStatus(e *rfError, re *common.Error) {
	e.status = re.HTTPReturnedStatusCode
	msg := re.Message
	if len(re.ExtendedInfos) > 0 && re.ExtendedInfos[0].Message != "" {
		msg = re.ExtendedInfos[0].Message
	}
	msg = clip(msg)
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	switch e.status {
	case http.StatusUnauthorized:
		e.kind, e.cause = ErrAuth, "wrong user name or password: HTTP 401"
	case http.StatusForbidden:
		e.kind, e.cause = ErrRefused, "HTTP 403, the user's role may not do this: "+msg
	case 0:
		e.cause = msg
	default:
		e.kind, e.cause = ErrRefused, fmt.Sprintf("HTTP %d: %s", e.status, msg)
	}
}

// clip is a BMC's text fit for one line of output: printable, its first
// line, at most 160 characters.
func clip(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = cleanText(s)
	if r := []rune(s); len(r) > 160 {
		s = string(r[:160]) + "..."
	}
	return s
}

// powerStates maps a system's PowerState to ours; a state in transition
// is the state it goes to.
var powerStates = map[redfish.PowerState]PowerState{
	redfish.OnPowerState: PowerOn, redfish.PoweringOnPowerState: PowerOn, "Paused": PowerOn,
	redfish.OffPowerState: PowerOff, redfish.PoweringOffPowerState: PowerOff,
}

func powerState(sys *redfish.ComputerSystem) (PowerState, error) {
	if st, ok := powerStates[sys.PowerState]; ok {
		return st, nil
	}
	return "", fmt.Errorf("GET %s: %w: PowerState %q is not On, Off, PoweringOn, PoweringOff or Paused",
		sys.ODataID, ErrBadAnswer, clip(string(sys.PowerState)))
}

func (d *redfishDriver) PowerStatus(ctx context.Context) (PowerState, error) {
	var st PowerState
	err := d.session(ctx, func(c *rfConn) error {
		var err error
		st, err = powerState(c.sys)
		return err
	})
	return st, err
}

// resetTypes are the ResetType each power action asks for.
var resetTypes = map[PowerAction]redfish.ResetType{
	ActionOn:    redfish.OnResetType,
	ActionOff:   redfish.ForceOffResetType,
	ActionCycle: redfish.PowerCycleResetType,
	ActionReset: redfish.ForceRestartResetType,
	ActionSoft:  redfish.GracefulShutdownResetType,
}

func (d *redfishDriver) Power(ctx context.Context, a PowerAction) error {
	rt, ok := resetTypes[a]
	if !ok {
		return fmt.Errorf("unknown power action %q", a)
	}
	return d.session(ctx, func(c *rfConn) error {
		if c.extra.Actions.Reset.Target == "" {
			return fmt.Errorf("%s: %w: the system has no #ComputerSystem.Reset action", c.sys.ODataID, ErrUnsupported)
		}
		allowed := c.sys.SupportedResetTypes
		offers := func(t redfish.ResetType) bool { return len(allowed) == 0 || slices.Contains(allowed, t) }
		switch {
		case a == ActionCycle && !offers(rt):
			// Off, wait until off, on.
			if !offers(redfish.ForceOffResetType) || !offers(redfish.OnResetType) {
				return d.unsupported(c, rt)
			}
			if err := d.reset(ctx, c, redfish.ForceOffResetType); err != nil {
				return err
			}
			if err := d.waitOff(ctx, c); err != nil {
				return err
			}
			return d.reset(ctx, c, redfish.OnResetType)
		case a == ActionOn && !offers(rt) && offers(redfish.ForceOnResetType):
			rt = redfish.ForceOnResetType
		case !offers(rt):
			return d.unsupported(c, rt)
		}
		return d.reset(ctx, c, rt)
	})
}

func (d *redfishDriver) unsupported(c *rfConn, rt redfish.ResetType) error {
	offered := make([]string, len(c.sys.SupportedResetTypes))
	for i, t := range c.sys.SupportedResetTypes {
		offered[i] = clip(string(t))
	}
	return fmt.Errorf("%w: the BMC does not offer ResetType %s (it offers %s)", ErrUnsupported, rt, strings.Join(offered, ", "))
}

func (d *redfishDriver) reset(ctx context.Context, c *rfConn, rt redfish.ResetType) error {
	if err := c.sys.Reset(rt); err != nil {
		return d.classify(ctx, "POST "+c.extra.Actions.Reset.Target+" "+string(rt), err)
	}
	return nil
}

// waitOff polls the system until it says Off, within ctx.
func (d *redfishDriver) waitOff(ctx context.Context, c *rfConn) error {
	for {
		sys, err := redfish.GetComputerSystem(c.api, c.sys.ODataID)
		if err != nil {
			return d.classify(ctx, "GET "+c.sys.ODataID, err)
		}
		if sys.PowerState == redfish.OffPowerState {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("power cycle: %w (the system did not power off in time: %s)", ErrTimeout, clip(string(sys.PowerState)))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var bootTargets = map[BootDevice]redfish.BootSourceOverrideTarget{
	BootPXE:  redfish.PxeBootSourceOverrideTarget,
	BootDisk: redfish.HddBootSourceOverrideTarget,
	BootBIOS: redfish.BiosSetupBootSourceOverrideTarget,
}

func (d *redfishDriver) SetBootDevice(ctx context.Context, dev BootDevice, persistent bool) error {
	target, ok := bootTargets[dev]
	if !ok {
		return fmt.Errorf("unknown boot device %q", dev)
	}
	enabled := redfish.OnceBootSourceOverrideEnabled
	if persistent {
		enabled = redfish.ContinuousBootSourceOverrideEnabled
	}
	return d.session(ctx, func(c *rfConn) error {
		if err := c.sys.SetBoot(redfish.Boot{BootSourceOverrideTarget: target, BootSourceOverrideEnabled: enabled}); err != nil {
			return d.classify(ctx, "PATCH "+c.sys.ODataID+" Boot", err)
		}
		return nil
	})
}

func (d *redfishDriver) Identify(ctx context.Context, on bool) error {
	return d.session(ctx, func(c *rfConn) error {
		var patch map[string]any
		switch {
		case c.extra.LocationIndicatorActive != nil:
			patch = map[string]any{"LocationIndicatorActive": on}
		case c.sys.IndicatorLED != "":
			led := common.OffIndicatorLED
			if on {
				led = common.LitIndicatorLED
			}
			patch = map[string]any{"IndicatorLED": led}
		default:
			return fmt.Errorf("%s: %w: the system has neither LocationIndicatorActive nor IndicatorLED", c.sys.ODataID, ErrUnsupported)
		}
		if err := c.sys.Patch(c.sys.ODataID, patch); err != nil {
			return d.classify(ctx, "PATCH "+c.sys.ODataID+" identify", err)
		}
		return nil
	})
}

func (d *redfishDriver) Describe(r Request) string {
	user := d.t.UserName
	if user == "" {
		user = "(anonymous)"
	}
	sys := ""
	if s := d.t.Tags[SystemTag]; s != "" {
		sys = " system " + s
	}
	tls := ""
	if d.insecure {
		tls = " (certificate not verified)"
	}
	return fmt.Sprintf("redfish %s@%s%s%s: %s", user, d.endpoint, sys, tls, r)
}
