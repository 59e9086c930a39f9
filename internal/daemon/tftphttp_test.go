package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTFTPOverHTTP: a node artifact asked for by TFTP is what the
// provisioning handler answers the same GET from the same client; other
// names, failed answers and answers over the bound are not found.
func TestTFTPOverHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/grub/52:54:00:00:00:01":
			fmt.Fprintf(w, "config for %s from %s via %s (%s) assetkey=%s", r.URL.Path, r.RemoteAddr, r.Host, r.Header.Get("X-Wwboot-Via"), r.URL.Query().Get("assetkey"))
		case r.URL.Path == "/image/52:54:00:00:00:01":
			w.Write([]byte(strings.Repeat("x", 2000)))
		default:
			http.Error(w, "no node has hardware address", http.StatusNotFound)
		}
	})
	get := tftpOverHTTP(h, "192.0.2.1:9873", 1000)
	client := &net.UDPAddr{IP: net.ParseIP("192.0.2.51"), Port: 25300}
	tests := []struct {
		name, file string
		want       string
		wantErr    string // "" for none
		notFound   bool
	}{
		{name: "the node's GRUB configuration", file: "grub/52:54:00:00:00:01?assetkey=k",
			want: "config for /grub/52:54:00:00:00:01 from 192.0.2.51:25300 via 192.0.2.1:9873 (tftp) assetkey=k"},
		{name: "not a route", file: "warewulf/other.efi", wantErr: "warewulf/other.efi: file does not exist", notFound: true},
		{name: "climbing out", file: "grub/../../etc/passwd", wantErr: "grub/../../etc/passwd: file does not exist", notFound: true},
		{name: "the handler's refusal", file: "kernel/52:54:00:00:00:09", wantErr: "kernel/52:54:00:00:00:09: HTTP 404 no node has hardware address: file does not exist", notFound: true},
		{name: "over the bound", file: "image/52:54:00:00:00:01",
			wantErr: "image/52:54:00:00:00:01 is larger than 1000 bytes, too large to send by TFTP: boot it with a GRUB that has HTTP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := get(context.Background(), tc.file, client)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff([]any{tc.want, tc.wantErr, tc.notFound}, []any{string(got), gotErr, errors.Is(err, fs.ErrNotExist)}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
