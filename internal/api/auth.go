package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// User is one entry of auth.conf, in Warewulf's format.
type User struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password hash"`
}

// Users is the content of auth.conf.
type Users struct {
	Users []User `yaml:"users"`
}

// ReadUsers reads auth.conf. A missing file holds no users; a malformed
// one, an unknown key, a user without a name, a name given twice or a
// hash that is not bcrypt ($2a$, $2b$, $2y$) is an error naming the file.
func ReadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Users{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %w", err)
	}
	return parseUsers(data, path)
}

func parseUsers(data []byte, path string) (*Users, error) {
	u := &Users{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(u); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, user := range u.Users {
		switch {
		case user.Name == "":
			return nil, fmt.Errorf("%s: user %d has no name", path, i+1)
		case seen[user.Name]:
			return nil, fmt.Errorf("%s: user %q appears twice", path, user.Name)
		case !isBcrypt(user.PasswordHash):
			return nil, fmt.Errorf("%s: user %q: password hash is not a bcrypt hash ($2a$, $2b$ or $2y$)", path, user.Name)
		}
		seen[user.Name] = true
	}
	return u, nil
}

func isBcrypt(h string) bool {
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return false
	}
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

// HashPassword returns the bcrypt hash auth.conf stores for password.
func HashPassword(password []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(password, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// UpdateUsers runs change on auth.conf under a lock and writes the result
// atomically, readable by its owner only.
func UpdateUsers(ctx context.Context, path string, change func(*Users) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("update %s: %w", path, err)
	}
	unlock, err := atomicfile.Lock(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	u, err := ReadUsers(path)
	if err != nil {
		return err
	}
	if err := change(u); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(u); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Set gives the user name the password hash, adding the user if new.
func (u *Users) Set(name, hash string) {
	for i := range u.Users {
		if u.Users[i].Name == name {
			u.Users[i].PasswordHash = hash
			return
		}
	}
	u.Users = append(u.Users, User{Name: name, PasswordHash: hash})
}

// Remove deletes the user name and reports whether it was there.
func (u *Users) Remove(name string) bool {
	for i := range u.Users {
		if u.Users[i].Name == name {
			u.Users = append(u.Users[:i], u.Users[i+1:]...)
			return true
		}
	}
	return false
}

// authFile is auth.conf as last read. It is read again when it changes,
// so "wwctl configure api-user" takes effect without a restart; when the
// new content is bad, the previous users stay in force. Credentials that
// matched are remembered for credentialTTL, until the file changes.
type authFile struct {
	path    string
	log     *slog.Logger
	compare func(hash, password []byte) error
	cache   *credentialCache

	mu      sync.Mutex
	modTime time.Time
	size    int64
	inode   uint64
	exists  bool
	users   map[string]string // name -> hash
	// gen counts the reads, so that a credential checked against users
	// read before is not remembered after.
	gen uint64
}

// refresh reads the file if it changed since the last read.
func (a *authFile) refresh() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := os.Stat(a.path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auth file: %w", err)
	}
	var inode uint64
	if exists {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			inode = sys.Ino
		}
	}
	// The inode tells apart a file replaced (as UpdateUsers does) within
	// the timestamps' granularity by one of the same size.
	if a.users != nil && exists == a.exists && (!exists || st.ModTime().Equal(a.modTime) && st.Size() == a.size && inode == a.inode) {
		return nil
	}
	u, err := ReadUsers(a.path)
	if err != nil {
		return err
	}
	users := make(map[string]string, len(u.Users))
	for _, user := range u.Users {
		users[user.Name] = user.PasswordHash
	}
	a.users, a.exists = users, exists
	if exists {
		a.modTime, a.size, a.inode = st.ModTime(), st.Size(), inode
	}
	a.gen++
	a.cache.clear()
	return nil
}

// noSuchUser is compared against when the user does not exist, so that a
// missing user takes as long as a wrong password.
const noSuchUser = "$2a$10$wwQI6zRD7B41HCqpjsV9IuZns.S03EDwOFuZvoPaat.d1sZH4pLLi"

// cached reads auth.conf again if it changed, then reports whether the
// Authorization header matched a user within credentialTTL.
func (a *authFile) cached(header string) bool {
	if err := a.refresh(); err != nil {
		a.log.Error("auth file not re-read; the previous users stay in force", "err", err)
	}
	a.mu.Lock()
	gen := a.gen
	a.mu.Unlock()
	_, ok := a.cache.lookup(header, gen)
	return ok
}

// check reports whether name and password, sent as header, match a user
// of auth.conf as last read (by bcrypt), and remembers it if they do.
func (a *authFile) check(header, name, password string) bool {
	a.mu.Lock()
	hash, ok := a.users[name]
	gen := a.gen
	a.mu.Unlock()
	if !ok {
		hash = noSuchUser
	}
	match := a.compare([]byte(hash), []byte(password)) == nil
	if ok && match {
		a.cache.store(header, name, gen)
	}
	return ok && match
}

// authenticate guards every route: TLS when api.tls is set (403), a
// client address in the allowed subnets (403), then HTTP Basic
// credentials (401), checked by bcrypt only when the client has not
// failed too often (else 429) and they did not match a moment ago. As
// Warewulf's authentication middleware does, a refusal is answered in
// plain text (http.Error): "Forbidden", "Unauthorized"; the reason is
// logged.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.API.TLS && r.TLS == nil {
			s.log.Warn("API request without TLS, which api.tls requires", "remote", r.RemoteAddr)
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		addr, ok := clientAddr(r)
		if !ok || !s.allowed(addr) {
			s.log.Warn("API request from an address outside the allowed subnets", "remote", r.RemoteAddr)
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		name, password, ok := r.BasicAuth()
		if !ok {
			unauthorized(w)
			return
		}
		header := r.Header.Get("Authorization")
		if s.auth.cached(header) {
			next.ServeHTTP(w, r)
			return
		}
		wait, first, ok := s.logins.take(addr)
		if !ok {
			secs := int((wait + time.Second - 1) / time.Second)
			if first {
				s.log.Warn("API client failed to log in too often; refusing its logins for a while", "remote", r.RemoteAddr,
					"max failed logins", s.cfg.API.MaxFailedLogins, "window", s.cfg.API.FailedLoginWindow)
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			http.Error(w, fmt.Sprintf("too many failed logins from %s (api.max failed logins: %d per %d s); retry in %d s",
				addr, s.cfg.API.MaxFailedLogins, s.cfg.API.FailedLoginWindow, secs), http.StatusTooManyRequests)
			return
		}
		if !s.auth.check(header, name, password) {
			s.log.Warn("API request with wrong credentials", "user", name, "remote", r.RemoteAddr)
			unauthorized(w)
			return
		}
		s.logins.refund(addr)
		next.ServeHTTP(w, r)
	})
}

// unauthorized answers 401 as Warewulf's middleware does.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Restricted"`)
	http.Error(w, "Unauthorized", http.StatusUnauthorized)
}

func clientAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func (s *Server) allowed(addr netip.Addr) bool {
	for _, p := range s.subnets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
