package bmc

import (
	"errors"
	"io"
	"testing"
	"time"
)

// Each stream reads what was typed while it ran; one that ended takes
// nothing typed after, even with a read of its own still waiting, and
// what it did not read goes to the next.
func TestConsoleInputStreams(t *testing.T) {
	r, w := io.Pipe()
	in := newConsoleInput(r)
	defer in.close()
	type result struct {
		n   int
		b   byte
		err error
	}
	read := func(s *streamInput) <-chan result {
		ch := make(chan result, 1)
		go func() {
			b := make([]byte, 8)
			n, err := s.Read(b)
			ch <- result{n, b[0], err}
		}()
		return ch
	}
	write := func(text string) {
		go func() { _, _ = w.Write([]byte(text)) }()
	}
	s1 := in.stream()
	write("ab")
	for _, want := range []byte("a") {
		if got := <-read(s1); got.n != 1 || got.b != want || got.err != nil {
			t.Fatalf("first stream read %+v, want %q", got, want)
		}
	}
	// The stream ends with "b" unread and a read of its own waiting.
	waiting := read(s1)
	if got := <-waiting; got.n != 1 || got.b != 'b' {
		t.Fatalf("first stream's second read %+v, want b", got)
	}
	waiting = read(s1)
	time.Sleep(20 * time.Millisecond)
	s1.close()
	select {
	case got := <-waiting:
		if !errors.Is(got.err, io.EOF) || got.n != 0 {
			t.Fatalf("ended stream's waiting read: %+v, want EOF", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ended stream's read did not return")
	}
	s2 := in.stream()
	write("cd")
	for _, want := range []byte("cd") {
		if got := <-read(s2); got.n != 1 || got.b != want || got.err != nil {
			t.Fatalf("second stream read %+v, want %q", got, want)
		}
	}
	if got := <-read(s1); !errors.Is(got.err, io.EOF) {
		t.Errorf("ended stream read %+v after the next began, want EOF", got)
	}
	w.Close()
	if got := <-read(s2); !errors.Is(got.err, io.EOF) {
		t.Errorf("after the input ended: %+v, want EOF", got)
	}
}
