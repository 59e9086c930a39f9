package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// escapes are the terminal controls firmware and iPXE write: CSI
// sequences, character-set selections, resets, carriage returns,
// backspaces.
var escapes = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[cM78=>]|[\r\x08\x00]`)

// Line is one line of a serial console, with when it arrived.
type Line struct {
	At   time.Time
	Text string
}

// Console collects a VM's serial output: every line, cleaned of terminal
// controls, with its arrival time, into memory and into a file where
// each line starts with the seconds since the VM started.
type Console struct {
	start time.Time
	mu    sync.Mutex
	lines []Line
	// changed is closed and replaced whenever a line arrives or the
	// output ends.
	changed chan struct{}
	ended   bool
}

func newConsole(start time.Time) *Console {
	return &Console{start: start, changed: make(chan struct{})}
}

// copyFrom reads r until it ends, writing each line to file as it comes.
func (c *Console) copyFrom(r io.Reader, file *os.File) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		now := time.Now()
		text := strings.TrimRight(escapes.ReplaceAllString(sc.Text(), ""), " ")
		fmt.Fprintf(file, "%8.3f %s\n", now.Sub(c.start).Seconds(), text)
		c.mu.Lock()
		c.lines = append(c.lines, Line{At: now, Text: text})
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.ended = true
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Lines returns a copy of the lines so far.
func (c *Console) Lines() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Line(nil), c.lines...)
}

// Len is the number of lines so far: a position for WaitFrom.
func (c *Console) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// Wait waits for a line matching re and returns it with its
// submatches.
func (c *Console) Wait(ctx context.Context, re *regexp.Regexp) (Line, []string, error) {
	l, m, _, err := c.WaitFrom(ctx, 0, re)
	return l, m, err
}

// WaitFrom waits for a line matching re at or after line number from. It
// returns the line, its submatches and the number of the line after it.
func (c *Console) WaitFrom(ctx context.Context, from int, re *regexp.Regexp) (Line, []string, int, error) {
	for {
		c.mu.Lock()
		for i := from; i < len(c.lines); i++ {
			if m := re.FindStringSubmatch(c.lines[i].Text); m != nil {
				l := c.lines[i]
				c.mu.Unlock()
				return l, m, i + 1, nil
			}
		}
		from = len(c.lines)
		ended, changed := c.ended, c.changed
		c.mu.Unlock()
		if ended {
			return Line{}, nil, from, fmt.Errorf("console ended without a line matching %q", re)
		}
		select {
		case <-ctx.Done():
			return Line{}, nil, from, fmt.Errorf("no console line matching %q: %w", re, context.Cause(ctx))
		case <-changed:
		}
	}
}

// Tail returns the last n lines as text, for failure messages.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := c.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%8.3f %s\n", l.At.Sub(c.start).Seconds(), l.Text)
	}
	return b.String()
}
