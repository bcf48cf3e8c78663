package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

// Two pods of one FTPServer (two engines, each with its own passive range) serve one shared store: a directory
// (the ReadWriteMany volume) or one bucket and prefix (object storage). Two clients upload different contents to
// the same name at once, round after round, while a reader polls the name in the store; the issue's rule is "the
// last complete upload wins, never a torn file".
//
// What "complete" means, and what a client can know: an upload is committed (rename(2) over the name; on S3 the
// PutObject or CompleteMultipartUpload) after the engine has read the data connection to its end and before it
// sends 226. So if one client got its 226 before the other client closed its data connection, the first commit
// precedes the second and the second upload must be what stays. In the "ordered" rounds one client sends all its
// bytes while the other is still sending, and closes its data connection only after the other's 226 has arrived,
// which forces that order; which client is second alternates. In the "race" rounds both close as soon as they
// have sent everything: both 226s come, either content may stay, but only ever a whole one.
func TestTwoPodsUploadOneName(t *testing.T) {
	for _, b := range []struct {
		name   string
		size   int
		rounds int
		start  func(t *testing.T) (pods [2]*env, st fileStore)
	}{
		{name: "shared-directory", size: 3 << 20, rounds: 16, start: func(t *testing.T) ([2]*env, fileStore) {
			a := newEnv(t)
			shared := filepath.Dir(a.root) // the volume both pods mount
			b := newEnv(t, func(s *ftpd.Server) { s.FileSystems = ftpd.RootFS{Dir: shared} })
			return [2]*env{a, b}, diskStore{a.root}
		}},
		{name: "s3-bucket", size: 6 << 20, rounds: 8, start: func(t *testing.T) ([2]*env, fileStore) {
			s3 := seaweedfs.Start(t)
			bucket := s3.Bucket(t, "replicas")
			var pods [2]*env
			for i := range pods {
				// Each pod builds its own client from the same settings, as two processes do.
				prov := bucketProvider(t, s3, bucket)
				pods[i] = newEnv(t, func(s *ftpd.Server) { s.Storage = prov })
			}
			return pods, bucketStore{s3: s3, bucket: bucket, prefix: "ftp/acme/"}
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			pods, st := b.start(t)
			const name = "same.bin"
			rng := rand.New(rand.NewPCG(11, uint64(b.size)))
			whole := map[string]string{} // sha256 -> which upload, for every content ever uploaded
			deadline := time.Now().Add(3 * time.Minute)
			ordered, raced := 0, 0
			for round := 0; round < b.rounds && time.Now().Before(deadline); round++ {
				var data [2][]byte
				for i := range data {
					data[i] = make([]byte, b.size)
					for j := 0; j < len(data[i]); j += 8 {
						v := rng.Uint64()
						for k := 0; k < 8 && j+k < len(data[i]); k++ {
							data[i][j+k] = byte(v >> (8 * k))
						}
					}
					whole[sha256Bytes(data[i])] = fmt.Sprintf("round %d client %d", round, i)
				}
				race := round%4 == 3
				last := round % 2 // in an ordered round, the client whose upload must stay
				got226 := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
				results := make(chan uploadResult, 2)
				for i := range 2 {
					var holdUntil <-chan struct{}
					if !race && i == last {
						holdUntil = got226[1-i]
					}
					go func() {
						// Client i talks to pod i.
						r := uploadOne(net.JoinHostPort(pods[i].host, pods[i].port), name, data[i], holdUntil)
						r.client = i
						if r.err == nil {
							close(got226[i])
						}
						results <- r
					}()
				}
				// The reader: while the uploads run, every read of the name is absent (first round only) or one
				// whole upload.
				var res [2]uploadResult
				reads := 0
				for pending := 2; pending > 0; {
					select {
					case r := <-results:
						res[r.client] = r
						pending--
						continue
					default:
					}
					if got, ok := st.get(t, name); ok {
						if _, known := whole[sha256Bytes(got)]; !known {
							t.Fatalf("round %d: a reader saw %d bytes that are no whole upload", round, len(got))
						}
					} else if round > 0 {
						t.Fatalf("round %d: %s vanished while it was replaced", round, name)
					}
					reads++
				}
				for i, r := range res {
					if r.err != nil {
						t.Fatalf("round %d client %d: %v", round, i, r.err)
					}
				}
				got, ok := st.get(t, name)
				if !ok {
					t.Fatalf("round %d: %s missing after two 226s", round, name)
				}
				sum := sha256Bytes(got)
				switch {
				case race:
					if sum != sha256Bytes(data[0]) && sum != sha256Bytes(data[1]) {
						t.Fatalf("round %d: after both 226s the file is %q, neither upload of this round", round, whole[sum])
					}
					raced++
				default:
					// Forced order: the first client's 226 came before the last client closed its data connection.
					first := 1 - last
					if !res[first].done226.Before(res[last].closed) {
						t.Fatalf("round %d: the order was not forced (226 at %v, close at %v)", round, res[first].done226, res[last].closed)
					}
					if sum != sha256Bytes(data[last]) {
						t.Fatalf("round %d: the upload completed last was client %d's, the file is %q", round, last, whole[sum])
					}
					ordered++
				}
				t.Logf("round %d: race=%v reads=%d", round, race, reads)
			}
			if ordered < 2 || raced < 1 {
				t.Fatalf("too few rounds in time: %d ordered, %d raced", ordered, raced)
			}
		})
	}
}

type uploadResult struct {
	client  int
	closed  time.Time // the data connection closed after the last byte
	done226 time.Time // the 226 arrived
	err     error
}

// uploadOne logs in at addr as acme, STORs data as name over EPSV and waits for the 226. If holdUntil is not nil
// it closes the data connection, after sending every byte, only once holdUntil is closed (bounded by 30 s).
func uploadOne(addr, name string, data []byte, holdUntil <-chan struct{}) (res uploadResult) {
	ctl, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return uploadResult{err: err}
	}
	defer ctl.Close()
	_ = ctl.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(ctl)
	say := func(cmd string, want string) (string, error) {
		if cmd != "" {
			if _, err := io.WriteString(ctl, cmd+"\r\n"); err != nil {
				return "", err
			}
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", fmt.Errorf("%s: %w", cmd, err)
			}
			if len(line) >= 4 && line[3] == '-' {
				continue // a multi-line reply goes on
			}
			if !strings.HasPrefix(line, want) {
				return line, fmt.Errorf("%s: %s", cmd, strings.TrimSpace(line))
			}
			return line, nil
		}
	}
	for _, step := range [][2]string{{"", "220"}, {"USER " + user, "331"}, {"PASS " + pass, "230"}, {"TYPE I", "200"}} {
		if _, err := say(step[0], step[1]); err != nil {
			return uploadResult{err: err}
		}
	}
	epsv, err := say("EPSV", "229")
	if err != nil {
		return uploadResult{err: err}
	}
	port := epsv[strings.Index(epsv, "|||")+3 : strings.LastIndex(epsv, "|")]
	host, _, _ := net.SplitHostPort(addr)
	dc, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 10*time.Second)
	if err != nil {
		return uploadResult{err: err}
	}
	defer dc.Close()
	if _, err := say("STOR "+name, "150"); err != nil {
		return uploadResult{err: err}
	}
	// Paced (64 KiB every 4 ms), so the uploads overlap long enough for the reader to look many times.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		if _, err := dc.Write(rest[:n]); err != nil {
			return uploadResult{err: fmt.Errorf("sending: %w", err)}
		}
		rest = rest[n:]
		time.Sleep(4 * time.Millisecond)
	}
	if holdUntil != nil {
		select {
		case <-holdUntil:
		case <-time.After(30 * time.Second):
			return uploadResult{err: errors.New("the other upload never got its 226")}
		}
	}
	if err := dc.Close(); err != nil {
		return uploadResult{err: err}
	}
	res.closed = time.Now()
	if _, err := say("", "226"); err != nil {
		return uploadResult{err: err}
	}
	res.done226 = time.Now()
	return res
}
