package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSyncUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	for _, tc := range []struct {
		name       string
		hostPasswd string
		write      bool
		want       []IDChange
		wantErr    string
		wantOwner  [2]int // of home/alice/file afterwards
		wantPasswd string
	}{
		{
			name:       "report only",
			hostPasswd: "root:x:0:0::/root:/bin/sh\nalice:x:2001:2001::/home/alice:/bin/sh\n",
			want:       []IDChange{{"user", "alice", 1001, 2001}, {"group", "alice", 1001, 2001}},
			wantOwner:  [2]int{1001, 1001},
			wantPasswd: "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n",
		},
		{
			name:       "write",
			hostPasswd: "root:x:0:0::/root:/bin/sh\nalice:x:2001:2001::/home/alice:/bin/sh\n",
			write:      true,
			want:       []IDChange{{"user", "alice", 1001, 2001}, {"group", "alice", 1001, 2001}},
			wantOwner:  [2]int{2001, 2001},
			wantPasswd: "root:x:0:0::/root:/bin/sh\nalice:x:2001:2001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n",
		},
		{
			name:       "conflict changes nothing",
			hostPasswd: "alice:x:1002:2001::/home/alice:/bin/sh\n",
			write:      true,
			wantErr:    "user alice would take id 1002, which image-only user bob has",
			wantOwner:  [2]int{1001, 1001},
			wantPasswd: "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, host := t.TempDir(), t.TempDir()
			writeTree(t, root, map[string]string{
				"etc/passwd":      "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n",
				"etc/group":       "root:x:0:\nalice:x:1001:\nbob:x:1002:\n",
				"home/alice/file": "data",
			})
			writeTree(t, host, map[string]string{"passwd": tc.hostPasswd, "group": "root:x:0:\nalice:x:2001:\n"})
			file := filepath.Join(root, "home/alice/file")
			if err := os.Lchown(file, 1001, 1001); err != nil {
				t.Fatal(err)
			}
			res, err := SyncUsers(context.Background(), root, filepath.Join(host, "passwd"), filepath.Join(host, "group"), tc.write)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if diff := cmp.Diff(tc.want, res.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			st, _ := os.Lstat(file)
			sys := st.Sys().(*syscall.Stat_t)
			if got := [2]int{int(sys.Uid), int(sys.Gid)}; got != tc.wantOwner {
				t.Errorf("owner %v, want %v", got, tc.wantOwner)
			}
			passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
			if diff := cmp.Diff(tc.wantPasswd, string(passwd)); diff != "" {
				t.Errorf("passwd (-want +got):\n%s", diff)
			}
		})
	}
}
