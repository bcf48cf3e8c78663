package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// Relay routing (issue 11, docs/high-availability.md): with one Service carrying every passive port to every pod,
// a data connection that lands on a pod that does not own its port is relayed to the owner. This row measures what
// that hop costs: two engines (in this process) stand for two pods on 127.0.0.2 and 127.0.0.3, one session on pod
// 1, and curl's RETR of the same file either straight from pod 1 (curl's default: the data connection goes to the
// control connection's address) or through pod 0 (--no-ftp-skip-pasv-ip: the PASV reply advertises pod 0's address,
// which relays to pod 1). Both alternate in one run; the ratio of their medians is the figure.

const relayUser, relayPass = "relay", "relay-bench"

// relayPeers are the two pods' addresses.
var relayPeers = []string{"127.0.0.2", "127.0.0.3"}

type relayRow struct {
	size              int64
	reps              int
	direct, relayed   []float64 // MiB/s of the data phase, in run order
	directW, relayedW []float64 // MiB/s over curl's whole run
}

// relayBench runs the relay row with c's RETR size (at most 1 GiB) and repetitions.
func relayBench(c config) (relayRow, error) {
	row := relayRow{size: min(c.size, 1<<30), reps: max(c.reps, 1)}
	dir, err := os.MkdirTemp("", "ftp-bench-relay-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	home := filepath.Join(dir, "root", relayUser)
	if err := os.MkdirAll(home, 0o755); err != nil {
		return row, err
	}
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte(fmt.Sprintf("users:\n- name: %s\n  password: %s\n  home: /%s\n", relayUser, relayPass, relayUser)), 0o600); err != nil {
		return row, err
	}
	if err := writeRandomFile(filepath.Join(home, "big.bin"), row.size); err != nil {
		return row, err
	}
	grant, err := freeRelayRange(8)
	if err != nil {
		return row, err
	}
	var ctl [2]string
	relays := &support.SyncBuffer{} // pod 0's log: proves the "relayed" downloads were relayed
	for k := range int32(2) {
		auth, err := ftpd.NewFileAuthenticator(users)
		if err != nil {
			return row, err
		}
		slice, _ := grant.Slice(k, 2)
		srv := &ftpd.Server{Auth: auth, FileSystems: ftpd.RootFS{Dir: filepath.Join(dir, "root")}, PassivePorts: slice,
			PassiveHost: relayPeers[k], PublicAddress: relayPeers[0], LoginDelay: -1,
			Relay: &ftpd.Relay{Range: grant, Slices: 2, Self: k, Peer: func(k int32) string { return relayPeers[k] }}}
		if k == 0 {
			srv.Logger = slog.New(slog.NewTextHandler(relays, nil))
		}
		l, err := net.Listen("tcp", net.JoinHostPort(relayPeers[k], "0"))
		if err != nil {
			return row, err
		}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		ctl[k] = l.Addr().String()
	}
	url := "ftp://" + relayUser + ":" + relayPass + "@" + ctl[1] + "/big.bin"
	timeout := time.Duration(max(120, row.size/(10<<20))) * time.Second
	modes := []struct {
		data, wall *[]float64
		extra      []string
	}{{&row.direct, &row.directW, nil}, {&row.relayed, &row.relayedW, []string{"--no-ftp-skip-pasv-ip"}}}
	for rep := range row.reps {
		for _, m := range rotate(modes, rep) {
			lines, err := curl(timeout, append(m.extra, "--disable-epsv", "-o", "/dev/null", "-w", xferFormat, url)...)
			if err != nil {
				return row, err
			}
			x, err := parseXfer(lines[len(lines)-1], false)
			if err == nil && x.bytes != row.size {
				err = fmt.Errorf("relay bench: downloaded %d bytes, want %d", x.bytes, row.size)
			}
			if err != nil {
				return row, err
			}
			*m.data, *m.wall = append(*m.data, x.dataRate()), append(*m.wall, x.totalRate())
		}
	}
	// Pod 0 logs a relayed connection once both of its halves closed, which can be just after curl read the
	// owner's 226 and exited: give the last line up to 5 s.
	relayed := func() int { return strings.Count(relays.String(), "relayed a data connection") }
	for deadline := time.Now().Add(5 * time.Second); relayed() < row.reps && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := relayed(); n != row.reps {
		return row, fmt.Errorf("relay bench: pod 0 relayed %d data connections, want %d", n, row.reps)
	}
	return row, nil
}

// ratio is relayed over direct, from the medians of the data phases.
func (r relayRow) ratio() float64 { return median(r.relayed) / median(r.direct) }

// markdown is the row's section of docs/benchmarks.md.
func (r relayRow) markdown() string {
	if len(r.direct) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Relay routing: relayed versus direct RETR\n\n"+
		"Two engines on 127.0.0.2 and 127.0.0.3 stand for two pods of a server with `routing: Relay`; one curl session "+
		"on pod 1 downloads %s, with the data connection either straight to pod 1 or to pod 0, which relays it to pod 1 "+
		"(PROXY v2 header, then spliced both ways). Alternating, %d times each, in this run.\n\n"+
		"| RETR, single stream | data phase, MiB/s (median) | whole curl run, MiB/s (median) |\n|---|---|---|\n", human(r.size), r.reps)
	fmt.Fprintf(&b, "| direct (on the owner pod) | %s | %s |\n", fmtVal(median(r.direct)), fmtVal(median(r.directW)))
	fmt.Fprintf(&b, "| relayed (through another pod) | %s | %s |\n", fmtVal(median(r.relayed)), fmtVal(median(r.relayedW)))
	fmt.Fprintf(&b, "| **relayed / direct** | **%.2f** | %.2f |\n", r.ratio(), median(r.relayedW)/median(r.directW))
	b.WriteString("\nOne host: both pods, curl and the relay share its CPUs and the loopback interface, so the hop costs CPU " +
		"(one more socket pair, the splice) but no network. Between nodes the relayed copy also crosses the pod network once " +
		"more, so expect a lower ratio there for transfers the network limits.\n")
	return b.String()
}

// freeRelayRange finds n consecutive ports free on both pods' addresses (30100-32700: below the kernel's
// ephemeral ports, above the ranges the other servers of the run get).
func freeRelayRange(n int32) (ftpd.PortRange, error) {
	for start := int32(30100); start+n <= 32700; start += n {
		ok := true
		for p := start; p < start+n && ok; p++ {
			for _, ip := range relayPeers {
				l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(p))))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return ftpd.PortRange{Start: start, End: start + n - 1}, nil
		}
	}
	return ftpd.PortRange{}, fmt.Errorf("no %d free consecutive ports for the relay row", n)
}

func writeRandomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
