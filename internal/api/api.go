// Package api is the provisioning daemon's REST API under /api/: nodes,
// profiles, images, overlays and node status, with Warewulf v4's routes
// and JSON shapes. Nodes and profiles are written through the inventory
// store (locked, validated, atomic), so the API, wwctl and other API
// calls never lose each other's changes; after every write the daemon is
// told to reload. Every request must come over TLS when api.tls is set,
// from an address in api.allowed subnets, with HTTP Basic credentials
// that match a bcrypt hash in auth.conf; failed logins are limited per
// client and matched credentials remembered briefly (login.go), so bcrypt
// cannot be made to eat the server's CPU. The routes are described by an
// OpenAPI 3 document served at /api/openapi.json, generated from the same
// table the routes are registered from.
package api

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/site"
)

// maxBody bounds a request body; a whole nodes.conf entry is a few KiB.
const maxBody = 16 << 20

// Options are the API's dependencies.
type Options struct {
	// Site is the installation the API works on: its configuration,
	// stores and operations (required).
	Site *site.Site
	// Builder builds overlay images; the daemon passes its own so that
	// API builds and on-demand ones are shared. nil makes one.
	Builder *overlay.Builder
	// Status returns every node's provisioning status; nil reports none.
	Status func() map[string]contract.NodeStatus
	// Reload makes the daemon serve what was just written and returns
	// its warnings (warewulf.conf's, changes that need a restart), which
	// a write's answer carries; nil does nothing.
	Reload func() (warnings []string, err error)
	// AuthFile is auth.conf; "" is the site's.
	AuthFile string
	Log      *slog.Logger
	// ComparePassword checks a password against its bcrypt hash; nil is
	// bcrypt.CompareHashAndPassword (tests count the checks).
	ComparePassword func(hash, password []byte) error
	// Now is the clock of the login limits; nil is time.Now.
	Now func() time.Time
}

// Server answers /api/ requests.
type Server struct {
	o       Options
	site    *site.Site
	cfg     *config.Config
	log     *slog.Logger
	auth    *authFile
	logins  *loginLimiter
	subnets []netip.Prefix
	routes  []route
}

// New checks the options, reads auth.conf and parses the allowed
// subnets. A missing auth.conf is no error (no one can log in until an
// administrator adds a user); a malformed one is.
func New(o Options) (*Server, error) {
	if o.Site == nil {
		return nil, errors.New("api: a site is required")
	}
	s := &Server{o: o, site: o.Site, cfg: o.Site.Config(), log: o.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.o.Builder == nil {
		s.o.Builder = s.site.NewBuilder(0)
	}
	if s.o.AuthFile == "" {
		s.o.AuthFile = s.site.AuthConf()
	}
	for _, p := range s.cfg.API.AllowedSubnets {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("api: allowed subnets: %q is not an address prefix such as 10.0.0.0/8", p)
		}
		s.subnets = append(s.subnets, prefix.Masked())
	}
	if s.o.ComparePassword == nil {
		s.o.ComparePassword = bcrypt.CompareHashAndPassword
	}
	if s.o.Now == nil {
		s.o.Now = time.Now
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("api: credential cache key: %w", err)
	}
	limits := s.cfg.API
	if limits.MaxFailedLogins < 1 || limits.FailedLoginWindow < 1 {
		return nil, fmt.Errorf("api: max failed logins (%d) and failed login window (%d) must be at least 1",
			limits.MaxFailedLogins, limits.FailedLoginWindow)
	}
	s.logins = newLoginLimiter(limits.MaxFailedLogins, time.Duration(limits.FailedLoginWindow)*time.Second, s.o.Now)
	s.auth = &authFile{path: s.o.AuthFile, log: s.log, compare: s.o.ComparePassword,
		cache: &credentialCache{key: key, now: s.o.Now, entries: map[[32]byte]cachedCredential{}}}
	if err := s.auth.refresh(); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s.routes = s.routeTable()
	return s, nil
}

// Handler returns every route behind the TLS, subnet and credential
// checks. Unknown paths under /api/ get a JSON 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		h := s.wrap(rt.handle)
		mux.Handle(rt.method+" "+muxPattern(rt.path), h)
		// Lists answer with and without the trailing slash, as
		// Warewulf's clients use both.
		if alias, ok := listAlias(rt.path); ok {
			mux.Handle(rt.method+" "+alias, h)
		}
	}
	// Warewulf's router answers a path it does not route with its
	// plain-text 404.
	mux.Handle("/api/", http.NotFoundHandler())
	return s.authenticate(mux)
}

// listAlias gives "/api/nodes/{$}" for "/api/nodes/" and "/api/images/{$}"
// for "/api/images", so both spellings of a list route work.
func listAlias(path string) (string, bool) {
	switch {
	case path == "/api/nodes/" || path == "/api/profiles/" || path == "/api/overlays/":
		return path[:len(path)-1], true
	case path == "/api/images":
		return path + "/{$}", true
	}
	return "", false
}

// muxPattern is the pattern a route is registered under: a path ending
// in "/" would match every path below it.
func muxPattern(path string) string {
	if path[len(path)-1] == '/' {
		return path + "{$}"
	}
	return path
}

// httpError is a failure with the status code it is answered with.
type httpError struct {
	code int
	// status is the canonical status name of the answer; "" takes the
	// one of code (statusName).
	status string
	msg    string
	// problems lists each validation problem on its own.
	problems []string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// errorBody is every error response, in the shape Warewulf's API
// answers with (swaggest's rest.ErrResponse): the canonical status's
// name and the message. Problems, ours, lists each validation problem
// of a refused write.
type errorBody struct {
	Status   string   `json:"status,omitempty"`
	Error    string   `json:"error,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// statusName is the canonical status (swaggest's usecase/status, the
// gRPC codes) that swaggest answers with code: rest.Err maps
// InvalidArgument to 400, NotFound 404, AlreadyExists 409,
// FailedPrecondition 412, ResourceExhausted 429, Unimplemented 501,
// Unavailable 503 and DeadlineExceeded 504. An error without a status
// is 500 with no status name, as an unwrapped error is in Warewulf.
func statusName(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return ""
}

// body is the error's answer. As swaggest's status.Wrap does, the
// message starts with the status's description: "invalid argument:
// node 'n1' already exists".
func (e *httpError) body() errorBody {
	name := e.status
	if name == "" {
		name = statusName(e.code)
	}
	msg := e.msg
	if name != "" {
		msg = strings.ToLower(strings.ReplaceAll(name, "_", " ")) + ": " + msg
	}
	return errorBody{Status: name, Error: msg, Problems: e.problems}
}

// wrap turns a handler's error into a JSON error response: an httpError
// keeps its code, a refused inventory change is 400, anything else 500.
func (s *Server) wrap(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		err := h(w, r)
		if err == nil {
			return
		}
		var he *httpError
		var ve *inventory.ValidationError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &he):
		case errors.As(err, &ve):
			he = &httpError{code: http.StatusBadRequest, msg: "refused, nothing changed", problems: problemStrings(ve)}
		case errors.As(err, &mbe):
			he = errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBody)
		default:
			s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			he = errorf(http.StatusInternalServerError, "%v", err)
		}
		reply(w, he.code, he.body())
	})
}

// warn adds a Warning header (RFC 7234, section 5.5: code 199,
// "miscellaneous warning", from agent wwctl) for each warning, which a
// write's answer carries beside the entity Warewulf's API answers with.
// It must be called before the answer is written.
func warn(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", "199 wwctl "+quoteHeader(msg))
	}
}

// quoteHeader makes s an HTTP quoted-string: '"' and '\' escaped, and
// control characters (a line break would end the header) made spaces.
func quoteHeader(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 && r != '\t', r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// reply writes v as indented JSON.
func reply(w http.ResponseWriter, code int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		data, _ = json.Marshal(errorBody{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

// decodeBody reads a JSON request body into v, refusing unknown fields
// and trailing data.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return errorf(http.StatusBadRequest, "request body is empty, expected JSON")
		}
		return errorf(http.StatusBadRequest, "request body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "request body: unexpected data after the JSON value")
	}
	return nil
}

// decodeOptionalBody is decodeBody for a body that may be left out.
func decodeOptionalBody(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	return decodeBody(r, v)
}

// reload tells the daemon to serve what was written. The write itself
// has landed, so a failure is reported as a warning, not an error.
func (s *Server) reload() []string {
	if s.o.Reload == nil {
		return nil
	}
	warnings, err := s.o.Reload()
	if err != nil {
		s.log.Error("reload after API write failed; the daemon serves the previous state", "err", err)
		return append(warnings, "written, but the daemon did not reload: "+err.Error())
	}
	return warnings
}

// boolQuery reads a boolean query parameter: absent is false, "" (as in
// ?force) is true.
func boolQuery(r *http.Request, name string) (bool, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return false, nil
	}
	switch q.Get(name) {
	case "", "1", "true", "yes":
		return true, nil
	case "0", "false", "no":
		return false, nil
	}
	return false, errorf(http.StatusBadRequest, "query parameter %s=%q is not a boolean (true or false)", name, q.Get(name))
}
