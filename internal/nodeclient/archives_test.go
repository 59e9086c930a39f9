package nodeclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
)

// archive is one newc archive of files name=content, compressed as f.
func archive(t *testing.T, f compress.Format, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := compress.NewWriter(&buf, f, compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cw := cpio.NewWriter(zw)
	for _, nc := range files {
		name, content, _ := strings.Cut(nc, "=")
		if err := cw.AddFile(name, 0o644, 0, 0, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestWalk(t *testing.T) {
	plain1 := archive(t, compress.None, "a=1", "b=2")
	plain2 := archive(t, compress.None, "a=3")
	pad := make([]byte, 512)
	tests := []struct {
		name    string
		in      []byte
		opts    WalkOptions
		want    []string
		wantErr string
		wantIs  error
	}{
		{name: "plain, one after the other", in: cat(plain1, plain2), want: []string{"1 a 1", "1 b 2", "2 a 3"}},
		{name: "gzip members with padding between", in: cat(archive(t, compress.Gzip, "a=1"), pad, archive(t, compress.Gzip, "b=2")),
			want: []string{"1 a 1", "2 b 2"}},
		{name: "an archive without entries", in: archive(t, compress.Gzip), want: nil},
		{name: "one compressed stream of two archives", in: func() []byte {
			var b bytes.Buffer
			zw, _ := compress.NewWriter(&b, compress.Gzip, compress.Options{})
			zw.Write(cat(plain1, pad, plain2))
			zw.Close()
			return b.Bytes()
		}(), want: []string{"1 a 1", "1 b 2", "2 a 3"}},
		{name: "zstd after plain after gzip", in: cat(archive(t, compress.Gzip, "a=1"), plain2, archive(t, compress.Zstd, "z=9")),
			want: []string{"1 a 1", "2 a 3", "3 z 9"}},
		{name: "empty refused", in: nil, wantErr: "archive 1: unexpected EOF"},
		{name: "empty accepted", in: nil, opts: WalkOptions{Empty: true}},
		{name: "truncated", in: plain1[:200], wantErr: "archive 1: "},
		{name: "bad second archive", in: cat(plain1, []byte("garbage!")), wantErr: "archive 2: "},
		{name: "decompressed beyond the bound", in: func() []byte {
			var b bytes.Buffer
			zw, _ := compress.NewWriter(&b, compress.Gzip, compress.Options{})
			zw.Write(cat(plain1, make([]byte, 1<<20)))
			zw.Close()
			return b.Bytes()
		}(), opts: WalkOptions{MaxBytes: 64 << 10}, wantIs: ErrTooLarge},
		{name: "within the bound", in: archive(t, compress.Gzip, "a=1"), opts: WalkOptions{MaxBytes: 64 << 10}, want: []string{"1 a 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := Walk(bytes.NewReader(tt.in), tt.opts, func(n int, h *cpio.Header, body io.Reader) error {
				data, err := io.ReadAll(body)
				if err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("%d %s %s", n, h.Name, data))
				return nil
			})
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("error %v, want %v", err, tt.wantIs)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

// An error of the callback ends the walk as it is.
func TestWalkCallbackError(t *testing.T) {
	stop := errors.New("stop")
	err := Walk(bytes.NewReader(archive(t, compress.Gzip, "a=1", "b=2")), WalkOptions{}, func(int, *cpio.Header, io.Reader) error { return stop })
	if err != stop {
		t.Fatalf("error %v, want %v", err, stop)
	}
}
