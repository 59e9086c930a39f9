package overlay

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// Body is an image as it is sent: its parts one after the other, each
// held in memory or a section of an open file. It reads and seeks as one
// stream (for Range requests); Send writes it whole the fastest way.
// Close it when done.
type Body struct {
	// ETag identifies the content; SHA256 is its sha256 as the build
	// recorded it ("" for an image built before builds recorded it).
	ETag, SHA256 string
	// Withheld is set when the image has secret files this body leaves
	// out, as the request asked.
	Withheld bool

	segs    []segment
	seg     [3]segment // segs' array for an image of up to three parts
	files   []*os.File
	total   int64
	mod     time.Time // the latest part's modification time
	modText string    // mod in http.TimeFormat, once known
	off     int64
	// joinBufs, when set, lend Send a buffer to join parts held in
	// memory.
	joinBufs *sync.Pool
}

// segment is one part: its bytes, or size bytes at off in an open file.
type segment struct {
	data      []byte
	f         *os.File
	off, size int64
}

// JoinFiles returns a body of the files one after the other, each whole
// (an image archive and its secret archive). Each must be a regular
// file; the caller closes them after the body.
func JoinFiles(etag, sum string, files ...*os.File) (*Body, error) {
	b := &Body{ETag: etag, SHA256: sum}
	b.segs = b.seg[:0]
	for _, f := range files {
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, errors.New(f.Name() + " is not a regular file")
		}
		b.add(segment{f: f, size: st.Size()}, st.ModTime(), "")
	}
	return b, nil
}

// add appends a part modified at mod; modText, when set, is mod in
// http.TimeFormat.
func (b *Body) add(sg segment, mod time.Time, modText string) {
	b.segs = append(b.segs, sg)
	b.total += sg.size
	if mod.After(b.mod) {
		b.mod, b.modText = mod, modText
	}
}

// Size is the body's length.
func (b *Body) Size() int64 { return b.total }

// ModTime is the modification time of the newest part.
func (b *Body) ModTime() time.Time { return b.mod }

// LastModified is ModTime as an HTTP Last-Modified header gives it.
func (b *Body) LastModified() string {
	if b.modText == "" {
		b.modText = b.mod.UTC().Format(http.TimeFormat)
	}
	return b.modText
}

// maxJoined is the largest body held in memory that Send copies into
// one buffer.
const maxJoined = 256 << 10

// Send writes the whole body to w, whatever Read and Seek did before. A
// body held in memory goes in one write, so that an HTTP answer's header
// and body leave in as few segments as a static file server's write and
// sendfile(2) make, not one more per part; file sections go by io.CopyN
// from the file at the section's offset, which a net/http response turns
// into sendfile(2).
func (b *Body) Send(w io.Writer) error {
	joined := len(b.segs) > 1 && b.total <= maxJoined
	for _, sg := range b.segs {
		joined = joined && sg.f == nil
	}
	if joined {
		var bp *[]byte
		if b.joinBufs != nil {
			bp, _ = b.joinBufs.Get().(*[]byte)
		}
		if bp == nil {
			bp = new([]byte)
		}
		buf := (*bp)[:0]
		for _, sg := range b.segs {
			buf = append(buf, sg.data...)
		}
		_, err := w.Write(buf)
		*bp = buf
		if b.joinBufs != nil {
			b.joinBufs.Put(bp)
		}
		return err
	}
	for _, sg := range b.segs {
		var err error
		if sg.f == nil {
			_, err = w.Write(sg.data)
		} else if _, err = sg.f.Seek(sg.off, io.SeekStart); err == nil {
			var n int64
			n, err = io.CopyN(w, sg.f, sg.size)
			if err == io.EOF && n < sg.size {
				err = io.ErrUnexpectedEOF // the file shrank
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *Body) Read(p []byte) (int, error) {
	if b.off >= b.total {
		return 0, io.EOF
	}
	start := int64(0)
	for _, sg := range b.segs {
		if b.off < start+sg.size {
			want := min(int64(len(p)), start+sg.size-b.off)
			var n int
			var err error
			if sg.f == nil {
				n = copy(p[:want], sg.data[b.off-start:])
			} else {
				n, err = sg.f.ReadAt(p[:want], sg.off+b.off-start)
			}
			b.off += int64(n)
			if err == io.EOF && int64(n) == want {
				err = nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the part shrank
			}
			return n, err
		}
		start += sg.size
	}
	return 0, io.EOF
}

func (b *Body) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.total
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	b.off = offset
	return offset, nil
}

// Close closes the body's open files.
func (b *Body) Close() error {
	for _, f := range b.files {
		f.Close()
	}
	b.files = nil
	return nil
}
