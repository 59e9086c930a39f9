package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"
)

// Limits of the negotiated options.
const (
	defaultBlockSize = 512
	maxBlockSize     = 65464 // RFC 2348
	maxWindowSize    = 64    // beyond this a lost block costs too much
	maxNetascii      = 16 << 20
	// maxTimeout caps the timeout option (RFC 2349 allows 255 s): with
	// retries, a client's timeout is how long a transfer it abandons
	// holds its slot.
	maxTimeout = 10 * time.Second
)

// params are the negotiated settings of one transfer.
type params struct {
	blksize int
	window  int
	timeout time.Duration
}

// transfer sends one file to peer from a port of its own (the transfer
// ID of RFC 1350).
func (s *Server) transfer(ctx context.Context, peer *net.UDPAddr, req *request, sl *slot) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: s.local})
	if err != nil {
		s.log.Warn("tftp: open transfer port", "err", err)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	log := s.log.With("file", req.filename, "client", peer.String())

	var src source
	var size int64
	f, err := s.open(req.filename)
	if b, ok := s.inline(req.filename); ok && errors.Is(err, fs.ErrNotExist) {
		src, size, err = bytes.NewReader(b), int64(len(b)), nil
	} else if errors.Is(err, fs.ErrNotExist) && s.o.Dynamic != nil {
		var b []byte
		if b, err = s.o.Dynamic(ctx, strings.TrimLeft(req.filename, "/"), peer); err == nil {
			src, size = bytes.NewReader(b), int64(len(b))
		} else if errors.Is(err, fs.ErrNotExist) {
			log.Debug("tftp: not found", "err", err)
		}
	} else if err == nil {
		defer f.Close()
		var st fs.FileInfo
		if st, err = f.Stat(); err == nil {
			src, size = f, st.Size()
		}
	}
	switch {
	case errors.Is(err, errTraversal):
		log.Warn("tftp: refused a path outside the root")
		s.sendError(conn, peer, errAccess, "access violation")
		return
	case errors.Is(err, fs.ErrNotExist):
		log.Debug("tftp: file not found")
		s.sendError(conn, peer, errNotFound, "file not found")
		return
	case err != nil:
		log.Warn("tftp: open", "err", err)
		s.sendError(conn, peer, errAccess, "access violation")
		return
	}
	content, size, err := contentOf(src, size, req.mode)
	if err != nil {
		log.Warn("tftp: read", "err", err)
		s.sendError(conn, peer, errUndefined, "read error")
		return
	}
	p, accepted := s.negotiate(req, size)
	start := time.Now()
	t := &sender{conn: conn, peer: peer, p: p, retries: s.o.Retries, buf: make([]byte, 65536),
		firstBy: start.Add(s.o.StartTimeout), acked: func() { sl.acked.Store(true) }}
	if len(accepted) > 0 {
		ok, err := t.oack(oackPacket(req.order, accepted))
		if err != nil || !ok {
			if err != nil {
				log.Debug("tftp: option acknowledgement", "err", err)
			}
			return // the client only asked for the size, or went away
		}
	}
	if err := t.send(content, size); err != nil {
		log.Info("tftp: transfer failed", "err", err)
		return
	}
	log.Debug("tftp: sent", "bytes", size, "blksize", p.blksize, "windowsize", p.window, "duration", time.Since(start))
}

// source is a file to send: an open file or an inline content.
type source interface {
	io.Reader
	io.ReaderAt
}

// contentOf returns the bytes to send: the file itself, or for netascii
// its text with CR LF line ends and CR as CR NUL.
func contentOf(f source, size int64, mode string) (io.ReaderAt, int64, error) {
	if mode != "netascii" {
		return f, size, nil
	}
	if size > maxNetascii {
		return nil, 0, errors.New("file too large for netascii")
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	out := make([]byte, 0, len(raw)+len(raw)/16)
	for _, c := range raw {
		switch c {
		case '\n':
			out = append(out, '\r', '\n')
		case '\r':
			out = append(out, '\r', 0)
		default:
			out = append(out, c)
		}
	}
	return bytes.NewReader(out), int64(len(out)), nil
}

// negotiate applies the options the server knows and returns the values
// to acknowledge. An out-of-range block or window size is clamped (RFC
// 2348 lets the server answer a smaller one). A timeout above maxTimeout
// is declined, left out of the OACK, as RFC 2349 has the server do with
// a value it will not use (the OACK must repeat the client's value), so
// the transfer keeps the server's own timeout. Unknown options are
// ignored.
func (s *Server) negotiate(req *request, size int64) (params, map[string]string) {
	p := params{blksize: defaultBlockSize, window: 1, timeout: s.o.Timeout}
	acc := map[string]string{}
	for name, v := range req.options {
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		switch name {
		case "blksize":
			if n < 8 {
				continue
			}
			p.blksize = min(n, maxBlockSize)
			acc[name] = strconv.Itoa(p.blksize)
		case "windowsize":
			if n < 1 {
				continue
			}
			p.window = min(n, maxWindowSize)
			acc[name] = strconv.Itoa(p.window)
		case "tsize":
			acc[name] = strconv.FormatInt(size, 10)
		case "timeout":
			if n < 1 || time.Duration(n)*time.Second > maxTimeout {
				continue
			}
			p.timeout = time.Duration(n) * time.Second
			acc[name] = v
		}
	}
	return p, acc
}

// sender runs the data phase of one transfer.
type sender struct {
	conn    *net.UDPConn
	peer    *net.UDPAddr
	p       params
	retries int
	buf     []byte
	// firstBy is when the transfer gives up if the client has not
	// acknowledged anything yet, however many retries are left.
	firstBy time.Time
	// acked is called at the client's first acknowledgement.
	acked   func()
	started bool // the client acknowledged something
}

// errPeer is an ERROR packet from the client.
var errPeer = errors.New("client ended the transfer")

// oack sends the option acknowledgement until the client acknowledges
// block 0. ok is false when the client answers with an error, as UEFI
// firmware does after learning the size.
func (t *sender) oack(pkt []byte) (ok bool, err error) {
	for try := 0; try <= t.retries && time.Now().Before(t.firstBy); try++ {
		if _, err := t.conn.WriteToUDP(pkt, t.peer); err != nil {
			return false, err
		}
		block, err := t.readAck(t.deadline())
		if errors.Is(err, errPeer) {
			return false, nil
		}
		if err == nil && block == 0 {
			t.ack()
			return true, nil
		}
		if err != nil && !isTimeout(err) {
			return false, err
		}
	}
	return false, errors.New("no acknowledgement of the options")
}

// send sends content in blocks of blksize, windowsize blocks at a time
// (RFC 7440): a window is sent, then the client's acknowledgement of the
// last block it got in order moves the window on; after a timeout the
// window is sent again from the first unacknowledged block. Block
// numbers wrap from 65535 to 0, as iPXE, curl and tftp-hpa expect.
func (t *sender) send(content io.ReaderAt, size int64) error {
	bs := int64(t.p.blksize)
	total := size/bs + 1 // the last block is short, possibly empty
	data := make([]byte, 4+bs)
	binary.BigEndian.PutUint16(data, opDATA)
	var acked int64 // blocks the client has, in order
	next := int64(1)
	tries := 0
	for acked < total {
		for next <= total && next <= acked+int64(t.p.window) {
			off := (next - 1) * bs
			n, err := content.ReadAt(data[4:4+min(bs, size-off)], off)
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			binary.BigEndian.PutUint16(data[2:], uint16(next))
			if _, err := t.conn.WriteToUDP(data[:4+n], t.peer); err != nil {
				return err
			}
			next++
		}
		block, err := t.readAck(t.deadline())
		if isTimeout(err) {
			if !t.started && !time.Now().Before(t.firstBy) {
				return errors.New("no acknowledgement of the first block")
			}
			if tries++; tries > t.retries {
				return errors.New("client stopped acknowledging")
			}
			next = acked + 1
			continue
		}
		if err != nil {
			return err
		}
		// The acknowledged block, placed relative to what is in flight:
		// anything outside (acked, next) is a stale duplicate.
		d := int64(uint16(block - uint16(acked)))
		if d == 0 || acked+d >= next {
			continue
		}
		acked += d
		tries = 0
		t.ack()
		if acked < next-1 {
			next = acked + 1 // the client missed a block of the window
		}
	}
	return nil
}

// deadline is when the wait for the next acknowledgement ends: after
// the timeout, and, until the client acknowledged something, no later
// than firstBy.
func (t *sender) deadline() time.Time {
	d := time.Now().Add(t.p.timeout)
	if !t.started && t.firstBy.Before(d) {
		return t.firstBy
	}
	return d
}

// ack notes an acknowledgement from the client.
func (t *sender) ack() {
	if !t.started {
		t.started = true
		if t.acked != nil {
			t.acked()
		}
	}
}

// readAck waits until deadline for an ACK from the client and returns
// its block number. Packets from any other address get an "unknown
// transfer ID" error and are otherwise ignored.
func (t *sender) readAck(deadline time.Time) (uint16, error) {
	if err := t.conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	for {
		n, from, err := t.conn.ReadFromUDP(t.buf)
		if err != nil {
			return 0, err
		}
		if !from.IP.Equal(t.peer.IP) || from.Port != t.peer.Port {
			_, _ = t.conn.WriteToUDP(errorPacket(errBadTID, "unknown transfer ID"), from)
			continue
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(t.buf) {
		case opACK:
			return binary.BigEndian.Uint16(t.buf[2:]), nil
		case opERROR:
			return 0, errPeer
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
