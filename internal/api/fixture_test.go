package api

import (
	"bytes"
	"crypto/tls"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/wwboot/wwboot/internal/arch"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"golang.org/x/crypto/bcrypt"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/site"
)

const fixtureNodes = `# site inventory
nodeprofiles:
  default:
    comment: the default
    image name: rocky
    system overlay: [sys]
    runtime overlay: [rt]
    kernel:
      args: [quiet]
  gpu:
    tags: {gpu: a100}
nodes:
  n1:
    profiles: [default]
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:01", ipaddr: 10.0.0.1}
  n2:
    profiles: [default, gpu]
    comment: second
    tags: {rack: "2"}
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:02", ipaddr: 10.0.0.2}
`

const (
	testUser     = "admin"
	testPassword = "s3cret pass"
)

type fixture struct {
	t       *testing.T
	root    string
	cfg     *config.Config
	site    *site.Site
	srv     *Server
	h       http.Handler
	opts    Options
	reloads atomic.Int64
	// before is nodes.conf as a test case found it.
	before []byte
}

// hash is a cheap bcrypt hash with the given prefix ($2a$, $2b$, $2y$).
func hash(t *testing.T, password, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + string(h[4:])
}

// newFixture is an installation under a temporary directory: nodes.conf,
// auth.conf with testUser, an image "rocky" with a kernel, a site
// overlay "sys" and a built-in overlay "rt". apiConf is the api section
// of warewulf.conf; change, if any, changes the options before New.
func newFixture(t *testing.T, apiConf string, change ...func(*Options)) *fixture {
	t.Helper()
	return newFixtureEnv(t, apiConf, nil, change...)
}

// newFixtureEnv is newFixture with the environment the site reads
// (WWSTAGE1, SOURCE_DATE_EPOCH); a nil env names no stage-one program, so
// that one installed on the machine is not found.
func newFixtureEnv(t *testing.T, apiConf string, env map[string]string, change ...func(*Options)) *fixture {
	t.Helper()
	in := sitetest.New(t, sitetest.DefaultConf+apiConf)
	root, cfg := in.Root, in.Config
	in.WriteNodes(t, fixtureNodes)
	if env == nil {
		env = map[string]string{"WWSTAGE1": filepath.Join(root, "no-wwstage1")}
	}
	st, err := site.Open(site.Options{Config: cfg, Getenv: func(k string) string { return env[k] },
		BuiltinOverlays: fstest.MapFS{"rt/rootfs/etc/rt.conf": {Data: []byte("runtime\n"), Mode: 0o644}}})
	if err != nil {
		t.Fatal(err)
	}
	sitetest.Write(t, st.AuthConf(), "users:\n  - name: "+testUser+"\n    password hash: "+hash(t, testPassword, "$2b$")+"\n")
	im := st.Images()
	sitetest.Write(t, filepath.Join(im.RootFS("rocky"), "boot/vmlinuz-6.1.0-1-amd64"), "kernel")
	sitetest.Write(t, filepath.Join(im.RootFS("rocky"), "etc/os-release"), "ID=rocky\n")
	sitetest.Write(t, filepath.Join(im.RootFS("rocky"), "bin/sh"), sitetest.ELFHeader(hostMachine()))
	sitetest.Write(t, filepath.Join(cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/motd.ww"), "node {{.Id}} of {{.ClusterName}}\n")
	sitetest.Write(t, filepath.Join(cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/issue"), "welcome\n")
	f := &fixture{t: t, root: root, cfg: cfg, site: st}
	o := Options{
		Site:    st,
		Builder: &overlay.Builder{Dir: st.OverlayImageDir(), NoSync: true},
		Status: func() map[string]contract.NodeStatus {
			return map[string]contract.NodeStatus{"n1": {Node: "n1", Stage: "KERNEL", Sent: "vmlinuz", Addr: "10.0.0.1"}}
		},
		Reload: func() ([]string, error) { f.reloads.Add(1); return nil, nil },
	}
	for _, c := range change {
		c(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h, f.opts = srv, srv.Handler(), o
	return f
}

// response is a recorded answer.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, r.body)
	}
	return v
}

// request options.
type reqOpt func(*http.Request)

func from(addr string) reqOpt        { return func(r *http.Request) { r.RemoteAddr = addr } }
func creds(user, pw string) reqOpt   { return func(r *http.Request) { r.SetBasicAuth(user, pw) } }
func header(k, v string) reqOpt      { return func(r *http.Request) { r.Header.Set(k, v) } }
func withTLS() reqOpt                { return func(r *http.Request) { r.TLS = &tls.ConnectionState{} } }
func noAuth() reqOpt                 { return func(r *http.Request) { r.Header.Del("Authorization") } }
func (f *fixture) nodesConf() []byte { return f.read(f.cfg.NodesConf()) }

func (f *fixture) read(p string) []byte {
	f.t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

// do sends a request from 127.0.0.1 with the test user's credentials
// unless opts say otherwise.
func (f *fixture) do(method, target, body string, opts ...reqOpt) response {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.RemoteAddr = "127.0.0.1:40000"
	r.SetBasicAuth(testUser, testPassword)
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return response{code: w.Code, header: w.Header(), body: bytes.Clone(w.Body.Bytes())}
}

// get fetches a path and decodes the JSON answer, failing unless 200.
func (f *fixture) get(target string) any {
	f.t.Helper()
	res := f.do("GET", target, "")
	if res.code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", target, res.code, res.body)
	}
	return res.json(f.t)
}

// hostMachine is the ELF machine of the server's architecture, which the
// fixture's image is built for.
func hostMachine() elf.Machine {
	if arch.Host() == arch.Aarch64 {
		return elf.EM_AARCH64
	}
	return elf.EM_X86_64
}
