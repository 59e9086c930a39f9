package sandbox_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wwboot/wwboot/internal/sandbox"
)

// lockHolderEnv makes the test binary a process that holds the lock of the
// image directory it names until its stdin closes or it is killed.
const lockHolderEnv = "WWBOOT_SANDBOX_TEST_LOCK_HOLDER"

func holdLock(dir string) int {
	unlock, err := sandbox.Lock(context.Background(), dir)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	defer unlock()
	os.Stdout.WriteString("locked\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

func TestLockExcludesSecondHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := sandbox.Lock(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sandbox.Lock(context.Background(), dir)
	var inUse *sandbox.InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second Lock error = %v, want *InUseError", err)
	}
	want := &sandbox.InUseError{Image: inUse.Image, PID: os.Getpid()}
	if diff := cmp.Diff(want, inUse); diff != "" {
		t.Errorf("InUseError (-want +got):\n%s", diff)
	}
	unlock()
	unlock() // a second call is harmless
	unlock2, err := sandbox.Lock(context.Background(), dir)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestLockMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *sandbox.InUseError
		want string
	}{
		{"pid known", &sandbox.InUseError{Image: "rocky", PID: 42}, "image rocky is in use by another wwctl image exec/shell (pid 42)"},
		{"pid not yet written", &sandbox.InUseError{Image: "rocky"}, "image rocky is in use by another wwctl image exec/shell (unknown pid)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.err.Error()); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestLockFreedWhenHolderDies(t *testing.T) {
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	holder.Stderr = os.Stderr
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		holder.Process.Kill()
		holder.Wait()
		t.Fatalf("holder said %q, %v", line, err)
	}

	_, err = sandbox.Lock(context.Background(), dir)
	var inUse *sandbox.InUseError
	if !errors.As(err, &inUse) || inUse.PID != holder.Process.Pid {
		t.Errorf("Lock while held = %v, want in use by pid %d", err, holder.Process.Pid)
	}

	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	unlock, err := sandbox.Lock(context.Background(), dir)
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	unlock()
}

func TestLockCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sandbox.Lock(ctx, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a canceled context = %v", err)
	}
}
