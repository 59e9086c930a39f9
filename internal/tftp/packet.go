package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// Error codes (RFC 1350, RFC 2347).
const (
	errUndefined = 0
	errNotFound  = 1
	errAccess    = 2
	errBadTID    = 5
)

// request is a parsed RRQ or WRQ.
type request struct {
	op       uint16
	filename string
	mode     string            // lower case: octet or netascii
	options  map[string]string // lower-case names
	order    []string          // option names as the client sent them
}

// parseRequest reads an RRQ or WRQ: opcode, file name, mode, then
// option/value pairs, each NUL-terminated.
func parseRequest(b []byte) (*request, error) {
	if len(b) < 4 {
		return nil, errors.New("short packet")
	}
	op := binary.BigEndian.Uint16(b)
	if op != opRRQ && op != opWRQ {
		return nil, fmt.Errorf("opcode %d is not a request", op)
	}
	fields := bytes.Split(b[2:], []byte{0})
	// A well-formed request ends with NUL, leaving one empty last field.
	if len(fields) < 3 || len(fields[len(fields)-1]) != 0 {
		return nil, errors.New("request not NUL-terminated")
	}
	fields = fields[:len(fields)-1]
	r := &request{op: op, filename: string(fields[0]), mode: strings.ToLower(string(fields[1])), options: map[string]string{}}
	if r.filename == "" {
		return nil, errors.New("empty file name")
	}
	if r.mode != "octet" && r.mode != "netascii" {
		return nil, fmt.Errorf("mode %q not supported", r.mode)
	}
	rest := fields[2:]
	if len(rest)%2 != 0 {
		return nil, errors.New("option without a value")
	}
	for i := 0; i < len(rest); i += 2 {
		name := strings.ToLower(string(rest[i]))
		if _, dup := r.options[name]; dup {
			continue
		}
		r.options[name] = string(rest[i+1])
		r.order = append(r.order, name)
	}
	return r, nil
}

func errorPacket(code uint16, msg string) []byte {
	b := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(b, opERROR)
	binary.BigEndian.PutUint16(b[2:], code)
	b = append(b, msg...)
	return append(b, 0)
}

// oackPacket lists the accepted options in the order the client sent
// them.
func oackPacket(names []string, values map[string]string) []byte {
	b := []byte{0, opOACK}
	for _, n := range names {
		if v, ok := values[n]; ok {
			b = append(b, n...)
			b = append(b, 0)
			b = append(b, v...)
			b = append(b, 0)
		}
	}
	return b
}
