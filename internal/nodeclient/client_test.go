package nodeclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCheckSHA256(t *testing.T) {
	body := []byte("overlay")
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	tests := []struct {
		name, want string
		wantErr    bool
	}{
		{name: "none given", want: ""},
		{name: "match", want: good},
		{name: "match, upper case", want: strings.ToUpper(good)},
		{name: "mismatch", want: strings.Repeat("0", 64), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSHA256(body, tt.want)
			if tt.wantErr != errors.Is(err, ErrChecksum) || (!tt.wantErr && err != nil) {
				t.Errorf("CheckSHA256: %v, want an ErrChecksum: %v", err, tt.wantErr)
			}
		})
	}
}

// A fixed source port serves one connection after another, the earlier
// one still in TIME_WAIT (to another address of the server: to the same
// one, the kernel refuses the same four-tuple).
func TestSourcePortDialerReuses(t *testing.T) {
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				// Closed after the client's close, so that the client's
				// side is the one in TIME_WAIT.
				go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
			}
		}()
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	d := SourcePortDialer(port, 5*time.Second)
	for i, addr := range addrs {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		if got := c.LocalAddr().(*net.TCPAddr).Port; got != port {
			t.Errorf("connection %d from port %d, want %d", i+1, got, port)
		}
		c.Close()
		time.Sleep(50 * time.Millisecond) // the server's close ends it: TIME_WAIT here
	}
}
