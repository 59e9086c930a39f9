package bmc

import (
	"io"
	"sync"
)

// consoleInput reads what the user types once, for the console's serial
// over LAN streams one after another (a stream ends when the BMC stops
// answering and the console reconnects): each stream reads through its
// own streamInput, which ends with the stream, so that a dead stream's
// reader takes nothing typed after it.
type consoleInput struct {
	chunks chan inputChunk
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex
	left inputChunk // what the last stream did not take
}

type inputChunk struct {
	data []byte
	err  error
}

func newConsoleInput(r io.Reader) *consoleInput {
	in := &consoleInput{chunks: make(chan inputChunk), done: make(chan struct{})}
	go in.pump(r)
	return in
}

func (in *consoleInput) pump(r io.Reader) {
	for {
		buf := make([]byte, 256)
		n, err := r.Read(buf)
		select {
		case in.chunks <- inputChunk{buf[:n], err}:
		case <-in.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// close ends the pump once its read returns (a terminal's read may only
// return at the next key, or at the end of the process).
func (in *consoleInput) close() { in.once.Do(func() { close(in.done) }) }

// stream returns the reader of the next stream; end it when the stream
// has ended.
func (in *consoleInput) stream() *streamInput {
	return &streamInput{in: in, end: make(chan struct{})}
}

// streamInput is one stream's view of consoleInput.
type streamInput struct {
	in   *consoleInput
	end  chan struct{}
	once sync.Once
}

// Read returns one byte at a time, so that the library's buffered
// reader holds none of what the next stream is to send.
func (s *streamInput) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.in.mu.Lock()
	c := s.in.left
	s.in.left = inputChunk{}
	s.in.mu.Unlock()
	if len(c.data) == 0 && c.err == nil {
		select {
		case c = <-s.in.chunks:
			select {
			case <-s.end:
				// The stream ended meanwhile: the chunk is the next one's.
				s.in.mu.Lock()
				s.in.left = c
				s.in.mu.Unlock()
				return 0, io.EOF
			default:
			}
		case <-s.end:
			return 0, io.EOF
		}
	}
	if len(c.data) == 0 {
		return 0, c.err
	}
	p[0] = c.data[0]
	if rest := (inputChunk{c.data[1:], c.err}); len(rest.data) > 0 || rest.err != nil {
		s.in.mu.Lock()
		s.in.left = rest
		s.in.mu.Unlock()
	}
	return 1, nil
}

// close ends the stream's reads: a read waiting for input returns
// io.EOF, which the ended stream does not pass on.
func (s *streamInput) close() { s.once.Do(func() { close(s.end) }) }
