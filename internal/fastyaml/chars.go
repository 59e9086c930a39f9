package fastyaml

import "unicode/utf8"

// validate accepts only characters that yaml.v3 reads the same way
// everywhere: printable ASCII, LF and CRLF line ends, and non-ASCII
// characters that are neither line breaks nor byte-order marks. Tabs are
// left to yaml.v3 because their meaning depends on context.
func validate(s string) (ok, ascii bool) {
	ascii = true
	for i := 0; i < len(s); i++ {
		// Eight bytes at a time while they are all printable ASCII: no
		// byte below 0x20, none at 0x7f or above.
		for i+8 <= len(s) {
			b := s[i : i+8]
			w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
			if (w-0x2020202020202020|(w+0x0101010101010101)|w)&0x8080808080808080 != 0 {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if plainText[c] {
			continue
		}
		switch {
		case c == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				return false, false
			}
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			if size == 1 || !allowedRune(r) {
				return false, false
			}
			ascii = false
			i += size - 1
		default:
			return false, false
		}
	}
	return true, ascii
}

// plainText marks printable ASCII and LF, the bytes validate lets through
// without a closer look.
var plainText = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	t['\n'] = true
	return t
}()

// allowedRune reports whether a non-ASCII character may appear literally:
// yaml.v3 rejects C1 controls and non-characters, and treats NEL, LS, PS
// and the byte-order mark specially.
func allowedRune(r rune) bool {
	switch {
	case r < 0xA0, r == 0x2028, r == 0x2029, r == 0xFEFF:
		return false
	case r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	}
	return r >= 0x10000 && r <= utf8.MaxRune
}
