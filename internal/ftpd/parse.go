package ftpd

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Command is one parsed control-connection line.
type Command struct {
	Verb string // upper-cased, ASCII letters only
	Arg  string // everything after the first space, verbatim (may contain spaces)
}

var (
	errEmptyCommand = errors.New("empty command")
	errBadVerb      = errors.New("malformed command verb")
	errBadAddress   = errors.New("malformed host-port argument")
)

// maxVerbLen bounds command verbs; the longest standard verb has four letters.
const maxVerbLen = 8

// ParseCommand parses a control line (with or without its trailing CRLF).
// Telnet IAC sequences that some clients prepend (e.g. before ABOR) are
// removed. The argument keeps inner and trailing spaces except a final CR.
func ParseCommand(line string) (Command, error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if strings.IndexByte(line, 0xff) >= 0 {
		line = stripTelnet(line)
	}
	// Tolerate leading spaces before the verb.
	line = strings.TrimLeft(line, " ")
	if line == "" {
		return Command{}, errEmptyCommand
	}
	verb, arg, _ := strings.Cut(line, " ")
	if len(verb) > maxVerbLen {
		return Command{}, errBadVerb
	}
	for i := 0; i < len(verb); i++ {
		c := verb[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return Command{}, errBadVerb
		}
	}
	if strings.ContainsAny(arg, "\x00\r\n") {
		return Command{}, fmt.Errorf("NUL, CR or LF in argument: %w", errBadVerb)
	}
	return Command{Verb: strings.ToUpper(verb), Arg: arg}, nil
}

// stripTelnet removes Telnet IAC command sequences (RFC 854): IAC IAC is a
// literal 0xFF, IAC WILL/WONT/DO/DONT take an option byte, other IAC commands
// are two bytes. 0xFF never occurs in UTF-8, so no file name is harmed.
func stripTelnet(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 0xff {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			break
		}
		next := s[i+1]
		switch {
		case next == 0xff:
			b.WriteByte(0xff)
			i++
		case next >= 0xfb && next <= 0xfe: // WILL WONT DO DONT <option>
			i += 2
		default:
			i++
		}
	}
	return b.String()
}

// ParsePORT parses the argument of PORT (RFC 959): "h1,h2,h3,h4,p1,p2".
func ParsePORT(arg string) (netip.AddrPort, error) {
	parts := strings.Split(strings.TrimSpace(arg), ",")
	if len(parts) != 6 {
		return netip.AddrPort{}, fmt.Errorf("PORT %q: want 6 numbers: %w", arg, errBadAddress)
	}
	var b [6]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("PORT %q: field %d: %w", arg, i+1, errBadAddress)
		}
		b[i] = byte(n)
	}
	addr := netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	port := uint16(b[4])<<8 | uint16(b[5])
	return netip.AddrPortFrom(addr, port), nil
}

// ParseEPRT parses the argument of EPRT (RFC 2428): "<d>proto<d>addr<d>port<d>"
// where <d> is any printable ASCII delimiter, proto is 1 (IPv4) or 2 (IPv6).
func ParseEPRT(arg string) (netip.AddrPort, error) {
	arg = strings.TrimSpace(arg)
	if len(arg) < 7 {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: too short: %w", arg, errBadAddress)
	}
	d := arg[0]
	if d < 33 || d > 126 || ('0' <= d && d <= '9') || d == '.' || d == ':' {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: bad delimiter: %w", arg, errBadAddress)
	}
	if arg[len(arg)-1] != d {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: missing final delimiter: %w", arg, errBadAddress)
	}
	fields := strings.Split(arg[1:len(arg)-1], string(d))
	if len(fields) != 3 {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: want 3 fields: %w", arg, errBadAddress)
	}
	addr, err := netip.ParseAddr(fields[1])
	if err != nil || addr.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: address: %w", arg, errBadAddress)
	}
	switch fields[0] {
	case "1":
		if !addr.Is4() {
			return netip.AddrPort{}, fmt.Errorf("EPRT %q: protocol 1 needs IPv4: %w", arg, errBadAddress)
		}
	case "2":
		if !addr.Is6() || addr.Is4In6() {
			return netip.AddrPort{}, fmt.Errorf("EPRT %q: protocol 2 needs IPv6: %w", arg, errBadAddress)
		}
	default:
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: protocol %q: %w", arg, fields[0], errUnsupportedProto)
	}
	port, err := strconv.ParseUint(fields[2], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: port: %w", arg, errBadAddress)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

var errUnsupportedProto = errors.New("network protocol not supported")

// formatPASV formats a 227 reply body for an IPv4 address and port.
func formatPASV(ip netip.Addr, port int) string {
	a := ip.As4()
	return fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], port>>8, port&0xff)
}

// quotePath quotes a path for 257 replies (RFC 959: embedded quotes doubled).
func quotePath(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}
