package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/compress"
)

// BuildOptions tune Build.
type BuildOptions struct {
	// Formats lists the archives to write: compress.None (<out>.img),
	// compress.Gzip (<out>.img.gz) and compress.Zstd (<out>.img.zst).
	// At least one is required; repeats are ignored.
	Formats []compress.Format
	// Excludes are patterns of paths left out of the archive: the
	// configuration's defaults, the image's own file (ReadExcludes) and
	// command-line flags, merged by the caller. Each is a shell glob
	// (path.Match; "*" does not cross "/"). One that starts with "/" or
	// has a "/" inside matches the whole path from the root ("/usr/share/man",
	// "/tmp/*"); one without matches a name at any depth ("*.pyc"). A
	// trailing "/" matches directories only ("/boot/"). An excluded
	// directory is left out with everything in it.
	Excludes []string
	// HybridPath, when set, makes each excluded path a symlink to
	// HybridPath/path in the archive instead of leaving it out (wwvnfs's
	// hybridize), for trees served from a network filesystem.
	HybridPath string
	// Force rebuilds the archives even when the tree did not change.
	Force bool
	// Concurrency is the number of compressing goroutines of each format;
	// 0 means GOMAXPROCS. It never changes the output.
	Concurrency int
	// Progress, when set, is called from Build's goroutine with the bytes
	// of file contents archived so far and the total to archive.
	Progress func(done, total int64)
	// Log receives notes on skipped entries and timings; nil discards them.
	Log *slog.Logger
}

// BuildResult reports what Build did.
type BuildResult struct {
	// Skipped is true when every requested archive was up to date.
	Skipped bool
	// Files is the number of archive entries (every type) the tree gives.
	Files int
	// Bytes is the size of the uncompressed archives written (public and
	// secret); 0 if Skipped.
	Bytes int64
	// Outputs describes every requested archive, built or up to date, in
	// the order of BuildOptions.Formats.
	Outputs []Output
}

// Output is one archive, and the secret archive that goes with it when
// the tree has secret files.
type Output struct {
	Format compress.Format
	Path   string
	Size   int64
	SHA256 string // hex
	// SecretPath is the secret archive (SecretArchive), "" when the tree
	// has no secret file; SecretSize is its size, and SecretSHA256 the
	// sha256 of the archive followed by it: the body a node that proved
	// itself is sent.
	SecretPath   string
	SecretSize   int64
	SecretSHA256 string
}

// buildVersion is hashed into every digest: change it when the archive
// layout changes, so old archives are rebuilt.
const buildVersion = "wwboot image build 2 (secret archives)"

// Modes of the archives: nothing on the server that holds an image's
// files is world-readable (the image tree itself is 0700), and the
// secret archives are the daemon's (root's) alone.
const (
	archivePerm = 0o640
	secretPerm  = 0o600
)

// SecretArchive is the path of the secret archive of the archive
// <out>.img<ext> in format f: <out>.img.secret<ext>. No other image's
// archive can have this name (every one ends in .img<ext>).
func SecretArchive(out string, f compress.Format) string {
	return out + ".img.secret" + f.Ext()
}

// secretSumName is the name a secret archive's .sha256 file gives the
// body whose sum it holds: the archive followed by the secret archive.
func secretSumName(out string, f compress.Format) string {
	return filepath.Base(out+".img"+f.Ext()) + "+" + filepath.Base(SecretArchive(out, f))
}

// bufSize is the unit of reads, writes and hand-offs between goroutines.
const bufSize = 1 << 20

// syncEvery is how many bytes of an archive are written before their
// writeback is started, so the final fsync has little left to wait for.
const syncEvery = 8 << 20

// Build writes the tree at root as a reproducible newc cpio archive to
// <out>.img<ext> for each requested format, where out is a path prefix
// such as /var/lib/warewulf/provision/images/rocky, with the archive's
// sha256 in <out>.img<ext>.sha256 in sha256sum's format.
//
// Regular files others may not read (a mode without o+r: /etc/shadow,
// /etc/sudoers, private keys) are the image's secrets: they are left out
// of <out>.img<ext>, which is served to whoever knows a node's MAC, and
// written instead to the secret archive SecretArchive(out, f) (mode
// 0600), served after it only to a node that proved itself. Its .sha256
// file holds the sha256 of <out>.img<ext> followed by it, the body such
// a node gets (ReadSecretSHA256). A tree without secret files has no
// secret archive. Public archives are mode 0640: none is world-readable.
//
// The tree is walked once, in sorted order, without following symlinks;
// the stream is compressed in all formats at once, each into a temporary
// file that is fsynced and renamed into place only when every archive
// succeeded, so an error or a cancelled ctx leaves the previous archives
// and their sha256 files as they were. The secret files are read after
// all the others, once the public archives are complete, so that the sum
// of the body with secrets continues the public archive's without
// reading it again. The archive keeps owners, modes
// (setuid, setgid, sticky), mtimes, symlinks, hard links, devices and
// fifos; it leaves out sockets and anything on another mount than root
// (mount points inside the tree, as find -xdev), logging them. The same
// tree and options give the same bytes. A regular file of 4 GiB or more,
// which newc cannot hold, fails the build before anything is written.
//
// A digest of the tree (every archived entry's path, type, mode, owner,
// size, mtimes, ctime, inode and link target) and of the excludes and
// HybridPath is kept in <out>.img.digest for each archive: an archive
// whose digest did not change is not rebuilt unless opts.Force. Build
// holds an exclusive lock on <out>.img.lock while it runs.
func Build(ctx context.Context, root, out string, opts BuildOptions) (*BuildResult, error) {
	res, err := build(ctx, root, out, opts)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", root, err)
	}
	return res, nil
}

func build(ctx context.Context, root, out string, opts BuildOptions) (*BuildResult, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var formats []compress.Format
	for _, f := range opts.Formats {
		switch f {
		case compress.None, compress.Gzip, compress.Zstd:
		default:
			return nil, fmt.Errorf("unknown archive format %q", string(f))
		}
		if !slices.Contains(formats, f) {
			formats = append(formats, f)
		}
	}
	if len(formats) == 0 {
		return nil, errors.New("no archive format requested")
	}
	ex, err := newExcluder(opts.Excludes)
	if err != nil {
		return nil, err
	}
	if opts.HybridPath != "" && !path.IsAbs(opts.HybridPath) {
		return nil, fmt.Errorf("hybrid path %q is not absolute", opts.HybridPath)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	unlock, err := atomicfile.Lock(ctx, out+".img.lock")
	if err != nil {
		return nil, err
	}
	defer unlock()

	start := time.Now()
	tree, err := scanTree(ctx, root, ex, opts.HybridPath, log)
	if err != nil {
		return nil, err
	}
	log.Debug("scanned image tree", "root", root, "entries", len(tree.entries), "bytes", tree.total, "took", time.Since(start))

	digestPath := out + ".img.digest"
	if err := atomicfile.RemoveStale(digestPath); err != nil {
		return nil, err
	}
	digests, err := readDigests(digestPath)
	if err != nil {
		return nil, err
	}
	res := &BuildResult{Files: tree.files}
	hasSecrets := tree.secrets > 0
	// todo holds the public sinks; secrets, when the tree has secret
	// files, the secret sink of each, in the same order.
	var todo, secrets []*sink
	for _, f := range formats {
		p, sp := out+".img"+f.Ext(), SecretArchive(out, f)
		for _, stale := range []string{p, p + ".sha256", sp, sp + ".sha256"} {
			if err := atomicfile.RemoveStale(stale); err != nil {
				return nil, err
			}
		}
		if !opts.Force && digests[filepath.Base(p)] == tree.digest {
			if o, ok := upToDate(f, p); ok && (!hasSecrets || secretUpToDate(out, f, &o, digests[filepath.Base(sp)] == tree.digest)) {
				res.Outputs = append(res.Outputs, o)
				continue
			}
		}
		o := Output{Format: f, Path: p}
		todo = append(todo, &sink{format: f, path: p, perm: archivePerm})
		if hasSecrets {
			o.SecretPath = sp
			secrets = append(secrets, &sink{format: f, path: sp, perm: secretPerm})
		}
		res.Outputs = append(res.Outputs, o)
	}
	if len(todo) == 0 {
		res.Skipped = true
		log.Info("image archives up to date", "root", root, "out", out)
		return res, nil
	}

	written, err := writeArchives(ctx, root, tree, todo, secrets, opts)
	if err != nil {
		return nil, err
	}
	res.Bytes = written

	// A digest line is dropped before its archive is replaced and written
	// after, so a crash in between leaves a stale digest, never a false one.
	kept := make(map[string]string, len(digests))
	for name, d := range digests {
		kept[name] = d
	}
	for _, s := range todo {
		delete(kept, filepath.Base(s.path))
		delete(kept, filepath.Base(SecretArchive(out, s.format)))
	}
	if len(kept) != len(digests) {
		if err := writeDigests(digestPath, kept); err != nil {
			return nil, err
		}
	}
	for i, s := range todo {
		// The secret archive first: a node that proved itself and asks
		// in between gets the old public archive with the new secrets
		// (and a sum that does not match, which stage one refuses and
		// retries), never the new public one with old secrets.
		var sec *sink
		if hasSecrets {
			sec = secrets[i]
			if err := os.Rename(sec.tmp.Name(), sec.path); err != nil {
				return nil, err
			}
			sec.tmp = nil
		} else {
			// The tree has no secret file (any more).
			sp := SecretArchive(out, s.format)
			for _, p := range []string{sp, sp + ".sha256"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
			}
		}
		if err := os.Rename(s.tmp.Name(), s.path); err != nil {
			return nil, err
		}
		s.tmp = nil
		sum := hex.EncodeToString(s.sum.Sum(nil))
		line := sum + "  " + filepath.Base(s.path) + "\n"
		if err := atomicfile.WriteFile(s.path+".sha256", []byte(line), 0o644); err != nil {
			return nil, err
		}
		kept[filepath.Base(s.path)] = tree.digest
		o := &res.Outputs[slices.IndexFunc(res.Outputs, func(o Output) bool { return o.Path == s.path })]
		o.Size, o.SHA256 = s.size, sum
		if sec != nil {
			both := hex.EncodeToString(sec.sum.Sum(nil))
			line := both + "  " + secretSumName(out, s.format) + "\n"
			if err := atomicfile.WriteFile(sec.path+".sha256", []byte(line), secretPerm); err != nil {
				return nil, err
			}
			kept[filepath.Base(sec.path)] = tree.digest
			o.SecretSize, o.SecretSHA256 = sec.size, both
		}
	}
	if err := writeDigests(digestPath, kept); err != nil {
		return nil, err
	}
	log.Info("built image archives", "root", root, "out", out, "entries", tree.files,
		"secret files", tree.secrets, "bytes", written, "formats", len(todo), "took", time.Since(start))
	return res, nil
}

// upToDate describes the archive at p if it and its sha256 file exist.
func upToDate(f compress.Format, p string) (Output, bool) {
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return Output{}, false
	}
	sum, err := ReadSHA256(p)
	if err != nil {
		return Output{}, false
	}
	return Output{Format: f, Path: p, Size: st.Size(), SHA256: sum}, true
}

// secretUpToDate reports whether the secret archive of o's format is up
// to date (digestOK: its digest line matches the tree) and its sum
// recorded, and describes it in o.
func secretUpToDate(out string, f compress.Format, o *Output, digestOK bool) bool {
	sp := SecretArchive(out, f)
	st, err := os.Stat(sp)
	if !digestOK || err != nil || !st.Mode().IsRegular() {
		return false
	}
	sum, err := ReadSecretSHA256(out, f)
	if err != nil {
		return false
	}
	o.SecretPath, o.SecretSize, o.SecretSHA256 = sp, st.Size(), sum
	return true
}

// ReadSecretSHA256 returns the sha256 of the archive <out>.img<ext>
// followed by its secret archive (SecretArchive), recorded in the secret
// archive's .sha256 file: the X-Checksum-Sha256 and ETag of the body a
// node that proved itself is sent. (sha256sum -c cannot check that line:
// "cat rocky.img.gz rocky.img.secret.gz | sha256sum" does.)
func ReadSecretSHA256(out string, f compress.Format) (string, error) {
	sp := SecretArchive(out, f)
	data, err := os.ReadFile(sp + ".sha256")
	if err != nil {
		return "", err
	}
	want := secretSumName(out, f)
	sum, name, ok := strings.Cut(strings.TrimSpace(string(data)), "  ")
	if !ok || name != want || len(sum) != 2*sha256.Size {
		return "", fmt.Errorf("%s.sha256 is not a sha256 line for %s", sp, want)
	}
	return sum, nil
}

// ReadSHA256 returns the sha256 recorded beside the archive at p, in
// p.sha256 (a sha256sum line naming the archive).
func ReadSHA256(p string) (string, error) {
	data, err := os.ReadFile(p + ".sha256")
	if err != nil {
		return "", err
	}
	sum, name, ok := strings.Cut(strings.TrimSpace(string(data)), "  ")
	if !ok || name != filepath.Base(p) || len(sum) != 2*sha256.Size {
		return "", fmt.Errorf("%s.sha256 is not a sha256sum line for %s", p, filepath.Base(p))
	}
	return sum, nil
}

// readDigests reads a digest file: lines of "<digest>  <archive name>".
// A missing file is empty.
func readDigests(p string) (map[string]string, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if d, name, ok := strings.Cut(line, "  "); ok {
			m[name] = d
		}
	}
	return m, nil
}

func writeDigests(p string, m map[string]string) error {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(m[n] + "  " + n + "\n")
	}
	return atomicfile.WriteFile(p, []byte(b.String()), 0o644)
}

// sink is one archive being written: a goroutine takes chunks of the cpio
// stream from in and compresses them into tmp through bw.
type sink struct {
	format  compress.Format
	path    string
	perm    os.FileMode
	in      chan *chunk
	tmp     *os.File
	bw      *bufio.Writer
	zw      io.WriteCloser
	running bool // run owns zw
	// sum hashes what is written to tmp; a secret archive's starts as
	// the public archive's sum, so it ends as the sum of both in turn.
	sum     hash.Hash
	size    int64 // bytes written to tmp
	started int64 // bytes whose writeback was started
	err     error
}

// chunk is a piece of the cpio stream shared by every sink; the last sink
// done with it puts its buffer back in the pool.
type chunk struct {
	b    []byte
	refs atomic.Int32
}

// writeArchives streams tree into one temporary file per sink and returns
// the uncompressed size: first the public archives (pub), then, when the
// tree has secret files, the secret ones (sec, one per public sink, in
// the same order), whose sums continue the public ones'. On success
// every sink's tmp is complete, synced and closed; on failure the
// temporary files are removed.
func writeArchives(ctx context.Context, root string, tree *scannedTree, pub, sec []*sink, opts BuildOptions) (_ int64, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer func() {
		if err != nil {
			for _, s := range slices.Concat(pub, sec) {
				if s.zw != nil && !s.running {
					_ = s.zw.Close() // releases the encoder
				}
				if s.tmp != nil {
					_ = s.tmp.Close()
					_ = os.Remove(s.tmp.Name())
				}
			}
		}
	}()
	prog := &progress{fn: opts.Progress, total: tree.total}
	for _, s := range pub {
		s.sum = sha256.New()
	}
	written, err := writePhase(ctx, cancel, root, tree, pub, false, prog, opts)
	if err != nil || len(sec) == 0 {
		return written, err
	}
	for i, s := range sec {
		c, err := pub[i].sum.(hash.Cloner).Clone()
		if err != nil {
			return 0, err
		}
		s.sum = c
	}
	n, err := writePhase(ctx, cancel, root, tree, sec, true, prog, opts)
	return written + n, err
}

// writePhase streams the public or (secret) the secret entries of tree
// into sinks, whose sums are set, and returns the uncompressed size.
func writePhase(ctx context.Context, cancel context.CancelCauseFunc, root string, tree *scannedTree, sinks []*sink, secret bool, prog *progress, opts BuildOptions) (int64, error) {
	// Enough buffers for every sink's queue to be full while the producer
	// fills one more.
	const queue = 4
	pool := make(chan []byte, queue*len(sinks)+2)
	for range cap(pool) {
		pool <- make([]byte, 0, bufSize)
	}
	for _, s := range sinks {
		dir, base := filepath.Split(s.path)
		var err error
		if s.tmp, err = os.CreateTemp(dir, "."+base+".tmp-*"); err != nil {
			return 0, err
		}
		if err := s.tmp.Chmod(s.perm); err != nil {
			return 0, err
		}
		s.bw = bufio.NewWriterSize(syncingWriter{s}, bufSize)
		if s.zw, err = compress.NewWriter(s.bw, s.format, compress.Options{Concurrency: opts.Concurrency}); err != nil {
			return 0, err
		}
		s.in = make(chan *chunk, queue)
	}
	var wg sync.WaitGroup
	for _, s := range sinks {
		s.running = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, pool, cancel)
		}()
	}

	fan := &fanout{ctx: ctx, sinks: sinks, pool: pool}
	werr := streamTree(ctx, root, tree, fan, secret, prog)
	if werr != nil {
		cancel(werr) // the sinks need not complete their files
	}
	for _, s := range sinks {
		close(s.in)
	}
	wg.Wait()
	for _, s := range sinks {
		if s.err != nil {
			return 0, s.err // the first cause: the producer only saw ctx end
		}
	}
	if werr != nil {
		return 0, werr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return fan.written, nil
}

// run compresses chunks until in is closed, then completes, syncs and
// closes the file. After an error it records it and cancels the build;
// once the build is cancelled it only drains in.
func (s *sink) run(ctx context.Context, pool chan<- []byte, cancel context.CancelCauseFunc) {
	zw := s.zw
	fail := func(err error) {
		if s.err == nil {
			s.err = fmt.Errorf("write %s: %w", s.path, err)
			cancel(s.err)
		}
	}
	for c := range s.in {
		if ctx.Err() == nil {
			if _, err := zw.Write(c.b); err != nil {
				fail(err)
			}
		}
		if c.refs.Add(-1) == 0 {
			pool <- c.b[:0]
		}
	}
	if ctx.Err() != nil {
		_ = zw.Close() // releases the encoder; the file is removed
		return
	}
	if err := zw.Close(); err != nil {
		fail(err)
	} else if err := s.bw.Flush(); err != nil {
		fail(err)
	} else if err := s.tmp.Sync(); err != nil {
		fail(err)
	} else if err := s.tmp.Close(); err != nil {
		fail(err)
	}
}

// syncingWriter writes to a sink's file and hash, and starts writeback
// every syncEvery bytes so the final fsync has little left to wait for.
type syncingWriter struct{ s *sink }

func (w syncingWriter) Write(p []byte) (int, error) {
	s := w.s
	n, err := s.tmp.Write(p)
	s.sum.Write(p[:n])
	s.size += int64(n)
	if s.size-s.started >= syncEvery {
		// Only a hint; its error would show again at fsync.
		_ = unix.SyncFileRange(int(s.tmp.Fd()), s.started, s.size-s.started, unix.SYNC_FILE_RANGE_WRITE)
		s.started = s.size
	}
	return n, err
}

// fanout is the io.Writer under the cpio.Writer: it cuts the stream into
// chunks and hands each to every sink.
type fanout struct {
	ctx     context.Context
	sinks   []*sink
	pool    chan []byte
	cur     []byte
	written int64
}

func (f *fanout) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if f.cur == nil {
			select {
			case f.cur = <-f.pool:
			case <-f.ctx.Done():
				return n, context.Cause(f.ctx)
			}
		}
		m := copy(f.cur[len(f.cur):cap(f.cur)], p)
		f.cur = f.cur[:len(f.cur)+m]
		p = p[m:]
		n += m
		f.written += int64(m)
		if len(f.cur) == cap(f.cur) {
			if err := f.Flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Flush hands the current chunk, if any, to the sinks.
func (f *fanout) Flush() error {
	if len(f.cur) == 0 {
		return nil
	}
	c := &chunk{b: f.cur}
	f.cur = nil
	c.refs.Store(int32(len(f.sinks)))
	for _, s := range f.sinks {
		select {
		case s.in <- c:
		case <-f.ctx.Done():
			return context.Cause(f.ctx)
		}
	}
	return nil
}
