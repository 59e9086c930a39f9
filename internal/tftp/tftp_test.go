package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/nettest"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"/warewulf/undionly.kpxe", "warewulf/undionly.kpxe", nil},
		{"warewulf//undionly.kpxe", "warewulf/undionly.kpxe", nil},
		{`\warewulf\undionly.kpxe`, "warewulf/undionly.kpxe", nil},
		{"./a/./b", "a/b", nil},
		{"../etc/passwd", "", errTraversal},
		{"/warewulf/../../etc/passwd", "", errTraversal},
		{`..\..\etc\passwd`, "", errTraversal},
		{"a/..", "", errTraversal},
		{"/", "", fs.ErrNotExist},
		{"a\x00b", "", fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cleanName(tc.in)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("cleanName(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		pkt  string
		want *request
	}{
		{"plain", "\x00\x01file\x00octet\x00",
			&request{op: opRRQ, filename: "file", mode: "octet", options: map[string]string{}}},
		{"options, mixed case", "\x00\x01f\x00OCTET\x00BLKSIZE\x001468\x00tsize\x000\x00windowsize\x004\x00",
			&request{op: opRRQ, filename: "f", mode: "octet",
				options: map[string]string{"blksize": "1468", "tsize": "0", "windowsize": "4"},
				order:   []string{"blksize", "tsize", "windowsize"}}},
		{"write request", "\x00\x02f\x00netascii\x00",
			&request{op: opWRQ, filename: "f", mode: "netascii", options: map[string]string{}}},
		{"no terminating NUL", "\x00\x01file\x00octet", nil},
		{"option without value", "\x00\x01f\x00octet\x00blksize\x00", nil},
		{"mail mode", "\x00\x01f\x00mail\x00", nil},
		{"empty name", "\x00\x01\x00octet\x00", nil},
		{"data packet", "\x00\x03\x00\x01abc", nil},
		{"short", "\x00", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRequest([]byte(tc.pkt))
			if tc.want == nil {
				if err == nil {
					t.Errorf("parsed %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(request{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveIpxe(t *testing.T) {
	debian, el, suse := t.TempDir(), t.TempDir(), t.TempDir()
	touch := func(dir string, names ...string) {
		for _, n := range names {
			p := filepath.Join(dir, filepath.FromSlash(n))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	touch(debian, "undionly.kpxe", "snponly.efi", "ipxe.efi")
	touch(el, "undionly.kpxe", "ipxe-snponly-x86_64.efi", "arm64-efi/snponly.efi")
	touch(suse, "undionly.kpxe", "ipxe-x86_64.efi", "snp-arm64.efi")
	warewulfMap := map[string]string{"00:00": "undionly.kpxe", "00:07": "ipxe-snponly-x86_64.efi",
		"00:09": "ipxe-snponly-x86_64.efi", "00:0B": "arm64-efi/snponly.efi"}
	tests := []struct {
		name        string
		source      string
		dirs        []string
		binaries    map[string]string
		want        map[string]string
		wantMissing []string
	}{
		{"Debian names for Warewulf's map", debian, nil, warewulfMap,
			map[string]string{"warewulf/undionly.kpxe": debian + "/undionly.kpxe",
				"warewulf/ipxe-snponly-x86_64.efi": debian + "/snponly.efi"},
			[]string{"arm64-efi/snponly.efi"}},
		{"Enterprise Linux: the map as it is", el, nil, warewulfMap,
			map[string]string{"warewulf/undionly.kpxe": el + "/undionly.kpxe",
				"warewulf/ipxe-snponly-x86_64.efi": el + "/ipxe-snponly-x86_64.efi",
				"warewulf/snponly.efi":             el + "/arm64-efi/snponly.efi"}, nil},
		{"SUSE names", suse, nil, warewulfMap,
			map[string]string{"warewulf/undionly.kpxe": suse + "/undionly.kpxe",
				"warewulf/ipxe-snponly-x86_64.efi": suse + "/ipxe-x86_64.efi",
				"warewulf/snponly.efi":             suse + "/snp-arm64.efi"}, nil},
		{"wrong source, found in the distribution directories", t.TempDir(), []string{debian}, map[string]string{"00:00": "undionly.kpxe"},
			map[string]string{"warewulf/undionly.kpxe": debian + "/undionly.kpxe"}, nil},
		{"absolute path", t.TempDir(), nil, map[string]string{"00:07": el + "/ipxe-snponly-x86_64.efi"},
			map[string]string{"warewulf/ipxe-snponly-x86_64.efi": el + "/ipxe-snponly-x86_64.efi"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, missing := ResolveIpxe(tc.source, tc.binaries, tc.dirs)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMissing, missing); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIpxeArch(t *testing.T) {
	tests := []struct{ name, binary, want string }{
		{"BIOS", "undionly.kpxe", "x86_64"},
		{"x86-64 EFI, Enterprise Linux", "ipxe-snponly-x86_64.efi", "x86_64"},
		{"x86-64 EFI, Debian", "snponly.efi", "x86_64"},
		{"arm64 EFI, Enterprise Linux", "arm64-efi/snponly.efi", "aarch64"},
		{"arm64 EFI, SUSE, absolute", "/usr/share/ipxe/snp-arm64.efi", "aarch64"},
		{"unknown", "custom.efi", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IpxeArch(tc.binary); got != tc.want {
				t.Errorf("IpxeArch(%q) = %q, want %q", tc.binary, got, tc.want)
			}
		})
	}
}

func TestIpxeSearchPath(t *testing.T) {
	tests := []struct {
		name, source string
		want         []string
	}{
		{"Debian's default, once", "/usr/lib/ipxe", []string{"/usr/lib/ipxe", "/usr/share/ipxe"}},
		{"a site directory first", "/srv/ipxe", []string{"/srv/ipxe", "/usr/lib/ipxe", "/usr/share/ipxe"}},
		{"none set", "", []string{"/usr/lib/ipxe", "/usr/share/ipxe"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, IpxeSearchPath(tc.source, DefaultIpxeDirs())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// fixtureTree makes a TFTP root and an iPXE binary outside it, and
// returns the server options serving them and the binary's content.
func fixtureTree(t *testing.T) (Options, []byte) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "tftpboot")
	src := filepath.Join(base, "ipxe")
	for _, d := range []string{root + "/sub", root + "/warewulf", src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Larger than 65535 blocks of 8 bytes would take too long; 3 MB at
	// 512-byte blocks wraps the 16-bit block number once.
	bin := make([]byte, 3<<20+123)
	_, _ = rand.Read(bin)
	for name, data := range map[string][]byte{
		src + "/undionly.kpxe":      bin,
		root + "/sub/hello.txt":     []byte("hello\nworld\n"),
		base + "/secret":            []byte("secret"),
		root + "/warewulf.conf.txt": []byte("x"),
		root + "/warewulf/grub.cfg": []byte("the administrator's"),
	} {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(base+"/secret", root+"/escape"); err != nil {
		t.Fatal(err)
	}
	files, missing := ResolveIpxe(src, map[string]string{"00:00": "undionly.kpxe"}, nil)
	if len(missing) > 0 {
		t.Fatalf("missing %v", missing)
	}
	inline := map[string][]byte{"grub/grub.cfg": []byte("configfile (http,x)/grub/${net_default_mac}\n"),
		"warewulf/grub.cfg": []byte("rendered")}
	dynamic := func(_ context.Context, name string, _ *net.UDPAddr) ([]byte, error) {
		if name == "grub/52-54-00-00-00-01?assetkey=" {
			return []byte("the node's configuration\n"), nil
		}
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return Options{Root: root, Files: files, Inline: inline, Dynamic: dynamic}, bin
}

func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// TestRealClients fetches files with curl and tftp-hpa from the client
// namespace.
func TestRealClients(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		o, bin := fixtureTree(t)
		o.Addr = p.ServerIP.Addr().String() + ":69"
		startServer(t, o)
		if out, err := exec.Command("ip", "-n", p.ClientNS, "addr", "add", "10.213.0.2/24", "dev", p.ClientIf).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		server := p.ServerIP.Addr().String()
		tests := []struct {
			name    string
			argv    func(out string) []string
			want    []byte // nil: the client must fail
			wantMsg string // in the client's output when it fails
		}{
			{"curl, iPXE binary, default block size", func(out string) []string {
				return []string{"curl", "-sS", "-o", out, "tftp://" + server + "/warewulf/undionly.kpxe"}
			}, bin, ""},
			{"curl, blksize 1468 and tsize", func(out string) []string {
				return []string{"curl", "-sS", "--tftp-blksize", "1468", "-o", out, "tftp://" + server + "/undionly.kpxe"}
			}, bin, ""},
			{"tftp-hpa, binary", func(out string) []string {
				return []string{"tftp", "-m", "binary", server, "-c", "get", "/warewulf/undionly.kpxe", out}
			}, bin, ""},
			{"tftp-hpa, netascii file under the root", func(out string) []string {
				return []string{"tftp", "-m", "netascii", server, "-c", "get", "sub/hello.txt", out}
			}, []byte("hello\nworld\n"), ""},
			{"curl, inline grub.cfg", func(out string) []string {
				return []string{"curl", "-sS", "-o", out, "tftp://" + server + "/grub/grub.cfg"}
			}, []byte("configfile (http,x)/grub/${net_default_mac}\n"), ""},
			{"tftp-hpa, inline grub.cfg in netascii", func(out string) []string {
				return []string{"tftp", "-m", "netascii", server, "-c", "get", "grub/grub.cfg", out}
			}, []byte("configfile (http,x)/grub/${net_default_mac}\n"), ""},
			{"a file under the root wins over an inline one", func(out string) []string {
				return []string{"curl", "-sS", "-o", out, "tftp://" + server + "/warewulf/grub.cfg"}
			}, []byte("the administrator's"), ""},
			{"tftp-hpa, a dynamic answer", func(out string) []string {
				return []string{"tftp", "-m", "binary", server, "-c", "get", "/grub/52-54-00-00-00-01?assetkey=", out}
			}, []byte("the node's configuration\n"), ""},
			{"curl, ../ refused", func(out string) []string {
				return []string{"curl", "-sS", "--path-as-is", "-o", out, "tftp://" + server + "/../secret"}
			}, nil, "(69)"}, // curl's exit code for a TFTP access violation
			{"tftp-hpa, ../ refused", func(out string) []string {
				return []string{"tftp", "-m", "binary", server, "-c", "get", "sub/../../secret", out}
			}, nil, "ccess violation"},
			{"symbolic link out of the root refused", func(out string) []string {
				return []string{"curl", "-sS", "-o", out, "tftp://" + server + "/escape"}
			}, nil, "(69)"},
			{"missing file", func(out string) []string {
				return []string{"curl", "-sS", "-o", out, "tftp://" + server + "/nothing"}
			}, nil, "(68)"}, // curl's exit code for a TFTP file not found
			{"write refused", func(out string) []string {
				return []string{"curl", "-sS", "-T", "/etc/hostname", "tftp://" + server + "/upload"}
			}, nil, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				argv := tc.argv(out)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				log, err := p.Command(ctx, argv[0], argv[1:]...).CombinedOutput()
				got, rerr := os.ReadFile(out)
				if tc.want == nil {
					// tftp-hpa exits 0 on a server error; it prints it.
					if (err == nil && !strings.Contains(string(log), "Error")) || (rerr == nil && len(got) > 0) {
						t.Errorf("%v succeeded (%d bytes), want a refusal: %s", argv, len(got), log)
					}
					if !strings.Contains(string(log), tc.wantMsg) {
						t.Errorf("output %q, want it to mention %q", log, tc.wantMsg)
					}
					return
				}
				if err != nil || rerr != nil {
					t.Fatalf("%v: %v %v: %s", argv, err, rerr, log)
				}
				if !bytes.Equal(got, tc.want) {
					t.Errorf("got %d bytes, want %d bytes, equal %v", len(got), len(tc.want), bytes.Equal(got, tc.want))
				}
			})
		}
	})
}

// TestWindowsAndLoss fetches with RFC 7440 windows through a client that
// drops packets, many transfers at once.
func TestWindowsAndLoss(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		o, bin := fixtureTree(t)
		o.Addr = p.ServerIP.Addr().String() + ":69"
		o.Timeout = 200 * time.Millisecond
		// Eight clients at once from one address, while the previous
		// case's transfers may still wait for a last acknowledgement:
		// more than the per-address limit, which is not what this tests
		// (TestFloodOfUnacknowledgedRequests does).
		o.ClientTransfers = 64
		startServer(t, o)
		server := &net.UDPAddr{IP: p.ServerIP.Addr().AsSlice(), Port: 69}
		tests := []struct {
			name      string
			opts      map[string]string
			dropEvery int // drop every n-th data packet once; 0 drops none
			wantOACK  map[string]string
		}{
			{"window 16, 1432-byte blocks", map[string]string{"blksize": "1432", "windowsize": "16", "tsize": "0"}, 0,
				map[string]string{"blksize": "1432", "windowsize": "16", "tsize": strconv.Itoa(len(bin))}},
			{"window 8 with loss", map[string]string{"blksize": "1024", "windowsize": "8"}, 97,
				map[string]string{"blksize": "1024", "windowsize": "8"}},
			{"lock-step with loss", map[string]string{"blksize": "4096"}, 101,
				map[string]string{"blksize": "4096"}},
			{"oversized window and block clamped", map[string]string{"blksize": "100000", "windowsize": "1000"}, 0,
				map[string]string{"blksize": "65464", "windowsize": "64"}},
			{"no options, 16-bit block number wraps", nil, 0, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				const clients = 8
				var wg sync.WaitGroup
				errs := make([]error, clients)
				oacks := make([]map[string]string, clients)
				for i := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						got, oack, err := fetch(server, "warewulf/undionly.kpxe", tc.opts, tc.dropEvery)
						if err == nil && !bytes.Equal(got, bin) {
							err = fmt.Errorf("got %d bytes, want %d, or different content", len(got), len(bin))
						}
						errs[i], oacks[i] = err, oack
					}()
				}
				wg.Wait()
				for i := range clients {
					if errs[i] != nil {
						t.Errorf("client %d: %v", i, errs[i])
					}
					if diff := cmp.Diff(tc.wantOACK, oacks[i]); diff != "" {
						t.Errorf("client %d OACK (-want +got):\n%s", i, diff)
					}
				}
			})
		}
	})
}

// fetch is a TFTP client with RFC 7440 windows: it acknowledges the last
// block of each window, or the last block in order when one is missing,
// and drops every dropEvery-th data packet it receives (the first time
// only) to make the server retransmit.
func fetch(server *net.UDPAddr, name string, opts map[string]string, dropEvery int) ([]byte, map[string]string, error) {
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	rrq := []byte{0, opRRQ}
	rrq = append(append(rrq, name...), 0)
	rrq = append(append(rrq, "octet"...), 0)
	for _, k := range []string{"blksize", "windowsize", "tsize"} {
		if v, ok := opts[k]; ok {
			rrq = append(append(append(append(rrq, k...), 0), v...), 0)
		}
	}
	if _, err := conn.WriteToUDP(rrq, server); err != nil {
		return nil, nil, err
	}
	blksize, window := 512, 1
	var oack map[string]string
	var out []byte
	var have uint64 // blocks received in order
	var peer *net.UDPAddr
	inWindow, received := 0, 0
	dropped := map[uint64]bool{}
	buf := make([]byte, 70000)
	ack := func(b uint64) error {
		_, err := conn.WriteToUDP([]byte{0, opACK, byte(uint16(b) >> 8), byte(uint16(b))}, peer)
		return err
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return nil, oack, fmt.Errorf("after %d blocks: %w", have, err)
		}
		peer = from
		switch binary.BigEndian.Uint16(buf) {
		case opERROR:
			return nil, oack, fmt.Errorf("server error: %q", buf[4:n-1])
		case opOACK:
			oack = map[string]string{}
			f := bytes.Split(buf[2:n-1], []byte{0})
			for i := 0; i+1 < len(f); i += 2 {
				oack[string(f[i])] = string(f[i+1])
			}
			if v, ok := oack["blksize"]; ok {
				blksize, _ = strconv.Atoi(v)
			}
			if v, ok := oack["windowsize"]; ok {
				window, _ = strconv.Atoi(v)
			}
			if err := ack(0); err != nil {
				return nil, oack, err
			}
		case opDATA:
			received++
			block := uint64(binary.BigEndian.Uint16(buf[2:]))
			want := have + 1
			if dropEvery > 0 && received%dropEvery == 0 && !dropped[want] {
				dropped[want] = true
				continue
			}
			if block != want&0xffff {
				// Out of order: acknowledge what we have so the server
				// resends from the gap (RFC 7440).
				inWindow = 0
				if err := ack(have); err != nil {
					return nil, oack, err
				}
				continue
			}
			have++
			out = append(out, buf[4:n]...)
			inWindow++
			last := n-4 < blksize
			if last || inWindow == window {
				inWindow = 0
				if err := ack(have); err != nil {
					return nil, oack, err
				}
			}
			if last {
				return out, oack, nil
			}
		}
	}
}

func TestNegotiateTimeout(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		wantOACK map[string]string
		want     time.Duration
	}{
		{"within the cap", "5", map[string]string{"timeout": "5"}, 5 * time.Second},
		{"at the cap", "10", map[string]string{"timeout": "10"}, 10 * time.Second},
		// RFC 2349: the OACK repeats the client's value or leaves the
		// option out; the server's own timeout applies then.
		{"above the cap, declined", "11", map[string]string{}, time.Second},
		{"RFC 2349 maximum, declined", "255", map[string]string{}, time.Second},
		{"zero ignored", "0", map[string]string{}, time.Second},
		{"above 255 ignored", "300", map[string]string{}, time.Second},
		{"not a number ignored", "ten", map[string]string{}, time.Second},
	}
	s := &Server{o: Options{Timeout: time.Second}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, acc := s.negotiate(&request{options: map[string]string{"timeout": tc.value}, order: []string{"timeout"}}, 100)
			if diff := cmp.Diff(tc.wantOACK, acc); diff != "" {
				t.Errorf("acknowledged (-want +got):\n%s", diff)
			}
			if p.timeout != tc.want {
				t.Errorf("timeout %v, want %v", p.timeout, tc.want)
			}
		})
	}
}

// TestFloodOfUnacknowledgedRequests floods the server with read requests
// that ask for the longest timeout and never acknowledge anything, from
// other loopback addresses, then fetches the boot file with a real
// client: it must be served at once, not after the flood's transfers
// time out.
func TestFloodOfUnacknowledgedRequests(t *testing.T) {
	tests := []struct {
		name             string
		addrs, perAddr   int // flood source addresses (127.0.0.2 on), requests from each
		portsPerAddr     int // source ports per address
		wantEvicted      bool
		wantClientRefusd bool
	}{
		{"one address, many ports", 1, 600, 60, false, true},
		{"many addresses", 100, 6, 1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, bin := fixtureTree(t)
			o.Addr = "127.0.0.1:0"
			srv := startServer(t, o)
			server := srv.conn.LocalAddr().(*net.UDPAddr)

			var conns []*net.UDPConn
			for a := range tc.addrs {
				for range tc.portsPerAddr {
					c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+a))})
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					conns = append(conns, c)
				}
			}
			rrq := []byte{0, opRRQ}
			rrq = append(append(rrq, "warewulf/undionly.kpxe"...), 0)
			rrq = append(append(rrq, "octet"...), 0)
			rrq = append(append(rrq, "timeout"...), 0)
			rrq = append(append(rrq, "255"...), 0)
			// Each request gets an answer once handled: an option
			// acknowledgement (again each second while unacknowledged), or
			// an error. The flood is sent in batches that wait for those
			// answers, so that the server's socket buffer does not drop it.
			var answers atomic.Int64
			var readers sync.WaitGroup
			for _, c := range conns {
				readers.Add(1)
				go func() {
					defer readers.Done()
					buf := make([]byte, 1500)
					for {
						if _, _, err := c.ReadFromUDP(buf); err != nil {
							return
						}
						answers.Add(1)
					}
				}()
			}
			defer readers.Wait()
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			perConn := tc.perAddr / tc.portsPerAddr
			sent := 0
			wait := time.Now().Add(10 * time.Second)
			for range perConn {
				for _, c := range conns {
					if _, err := c.WriteToUDP(rrq, server); err != nil {
						t.Fatal(err)
					}
					if sent++; sent%50 == 0 {
						for answers.Load() < int64(sent-50) && time.Now().Before(wait) {
							time.Sleep(time.Millisecond)
						}
					}
				}
			}
			for answers.Load() < int64(sent) && time.Now().Before(wait) {
				time.Sleep(time.Millisecond)
			}
			t.Logf("flood: %d requests, %d answers; %d transfers in progress, %+v", sent, answers.Load(), srv.slots.inUse(), srv.Stats())

			start := time.Now()
			got, err := fetchWithClient(t, server, "warewulf/undionly.kpxe")
			if err != nil {
				t.Fatalf("fetch during the flood: %v", err)
			}
			if !bytes.Equal(got, bin) {
				t.Fatalf("got %d bytes, want the %d of the boot file", len(got), len(bin))
			}
			// The transfer itself takes well under a second on loopback;
			// before the limits it was refused outright.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("fetch took %v, want a few seconds at most", d)
			}
			st := srv.Stats()
			if (st.Evicted > 0) != tc.wantEvicted || (st.Refused > 0) != tc.wantClientRefusd {
				t.Errorf("stats %+v, want evictions %v, refusals %v", st, tc.wantEvicted, tc.wantClientRefusd)
			}
			// Transfers never acknowledged give up after StartTimeout.
			deadline := time.Now().Add(DefaultStartTimeout + 5*time.Second)
			for srv.slots.inUse() > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if n := srv.slots.inUse(); n > 0 {
				t.Errorf("%d transfers still in progress %v after the flood, want none", n, DefaultStartTimeout+5*time.Second)
			}
		})
	}
}

// fetchWithClient fetches name from server with tftp-hpa's tftp command,
// or with the test's own client when that is not installed.
func fetchWithClient(t *testing.T, server *net.UDPAddr, name string) ([]byte, error) {
	t.Helper()
	if _, err := exec.LookPath("tftp"); err != nil {
		t.Logf("tftp (tftp-hpa) not installed, fetching with the test's client")
		got, _, err := fetch(server, name, nil, 0)
		return got, err
	}
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log, err := exec.CommandContext(ctx, "tftp", "-m", "binary", server.IP.String(), strconv.Itoa(server.Port),
		"-c", "get", name, out).CombinedOutput()
	if err != nil || strings.Contains(string(log), "Error") {
		return nil, fmt.Errorf("tftp: %v: %s", err, log)
	}
	return os.ReadFile(out)
}

// TestResolveGrub finds Debian's signed loaders by their package's names
// and Enterprise Linux's by Warewulf's directories, and names what is
// missing by its key.
func TestResolveGrub(t *testing.T) {
	tests := []struct {
		name        string
		files       []string // under the root
		shim, grub  map[string]string
		want        map[string]string // TFTP path -> file under the root
		wantMissing []string
	}{
		{
			name:  "Debian shim-signed and grub-efi-amd64-signed",
			files: []string{"/usr/lib/shim/shimx64.efi.signed", "/usr/lib/shim/shimx64.efi", "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"},
			shim:  map[string]string{"00:07": "shimx64.efi", "00:09": "shimx64.efi", "00:0B": "shimaa64.efi"},
			grub:  map[string]string{"00:07": "grubx64.efi", "00:09": "grubx64.efi", "00:0B": "grubaa64.efi"},
			want: map[string]string{"warewulf/shim.efi": "/usr/lib/shim/shimx64.efi.signed",
				"warewulf/grubx64.efi": "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"},
			wantMissing: []string{"tftp.shim.00:0B (shimaa64.efi)", "tftp.grub.00:0B (grubaa64.efi)"},
		},
		{
			name:  "Enterprise Linux under /boot/efi",
			files: []string{"/boot/efi/EFI/rocky/shimx64.efi", "/boot/efi/EFI/rocky/grubx64.efi"},
			shim:  map[string]string{"00:07": "shimx64.efi"},
			grub:  map[string]string{"00:07": "grubx64.efi"},
			want: map[string]string{"warewulf/shim.efi": "/boot/efi/EFI/rocky/shimx64.efi",
				"warewulf/grubx64.efi": "/boot/efi/EFI/rocky/grubx64.efi"},
		},
		{
			name:  "absolute paths, and BIOS has no loader",
			files: []string{"/opt/sb/shim.signed", "/opt/sb/grub.signed"},
			shim:  map[string]string{"00:07": "/opt/sb/shim.signed", "00:00": "/opt/sb/shim.signed"},
			grub:  map[string]string{"00:07": "/opt/sb/grub.signed"},
			want:  map[string]string{"warewulf/shim.efi": "/opt/sb/shim.signed", "warewulf/grubx64.efi": "/opt/sb/grub.signed"},
		},
		{
			name:        "nothing installed",
			shim:        map[string]string{"00:07": "shimx64.efi"},
			grub:        map[string]string{"00:07": "grubx64.efi"},
			want:        map[string]string{},
			wantMissing: []string{"tftp.shim.00:07 (shimx64.efi)", "tftp.grub.00:07 (grubx64.efi)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tc.files {
				if err := os.MkdirAll(filepath.Dir(root+f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(root+f, []byte(f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			files, missing := ResolveGrub(root, tc.shim, tc.grub)
			got := map[string]string{}
			for k, v := range files {
				got[k] = strings.TrimPrefix(v, root)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMissing, missing); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
		})
	}
}
