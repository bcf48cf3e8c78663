package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/ftpd/s3store"
	"github.com/ftp-operator/ftp-operator/test/support/seaweedfs"
)

// fileStore reads and writes acme's files behind the engine's back: on disk, or as objects.
type fileStore interface {
	put(t *testing.T, name string, data []byte)
	get(t *testing.T, name string) ([]byte, bool)
}

type diskStore struct{ root string }

func (d diskStore) put(t *testing.T, name string, data []byte) {
	writeFile(t, filepath.Join(d.root, name), string(data))
}
func (d diskStore) get(t *testing.T, name string) ([]byte, bool) {
	b, err := os.ReadFile(filepath.Join(d.root, name))
	return b, err == nil
}

type bucketStore struct {
	s3             *seaweedfs.Server
	bucket, prefix string
}

func (b bucketStore) put(t *testing.T, name string, data []byte) {
	t.Helper()
	_, err := b.s3.Client().PutObject(context.Background(), b.bucket, b.prefix+name, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func (b bucketStore) get(t *testing.T, name string) ([]byte, bool) {
	t.Helper()
	data, err := b.s3.Object(t, b.bucket, b.prefix+name)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, false
		}
		t.Fatal(err)
	}
	return data, true
}

// storageBackend is one place the engine keeps files; objectStorage marks what object storage refuses (APPE).
type storageBackend struct {
	name          string
	objectStorage bool
	start         func(t *testing.T) (*env, fileStore)
}

var storageBackends = []storageBackend{
	{name: "local", start: func(t *testing.T) (*env, fileStore) {
		e := newEnv(t)
		return e, diskStore{e.root}
	}},
	{name: "s3", objectStorage: true, start: func(t *testing.T) (*env, fileStore) {
		s3 := seaweedfs.Start(t)
		bucket := s3.Bucket(t, "conformance")
		e := newEnv(t, func(s *ftpd.Server) { s.Storage = bucketProvider(t, s3, bucket) })
		return e, bucketStore{s3: s3, bucket: bucket, prefix: "ftp/acme/"}
	}},
}

// bucketProvider is the engine's S3 storage on bucket of s3 under the prefix "ftp" (acme's files under
// "ftp/acme/"), with 5 MiB parts; each call builds its own client, as each engine process does.
func bucketProvider(t *testing.T, s3 *seaweedfs.Server, bucket string) *s3store.Provider {
	t.Helper()
	prov, err := s3store.New(s3store.Config{Endpoint: s3.Endpoint, Bucket: bucket, Prefix: "ftp", Region: "us-east-1",
		ForcePathStyle: true, Credentials: credentials.NewStaticV4(seaweedfs.AccessKey, seaweedfs.SecretKey, ""),
		PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return prov
}

// The same client sessions give the same files on every backend: curl, lftp, Python's ftplib and the Go
// client upload (multipart-sized on S3), download (also from an offset), list, create and remove directories,
// rename and delete; what object storage cannot do is refused with a clear reply.
func TestStorageConformance(t *testing.T) {
	for _, b := range storageBackends {
		t.Run(b.name, func(t *testing.T) {
			e, st := b.start(t)
			seed := []byte("grüße from the server\n")
			st.put(t, "seed/héllo wörld.txt", seed)
			big := bytes.Repeat([]byte("0123456789abcdef"), 7<<16) // 7 MiB: two parts on S3
			st.put(t, "seed/big.bin", big)
			t.Run("curl", func(t *testing.T) { conformCurl(t, e, st, b, seed, big) })
			t.Run("lftp", func(t *testing.T) { conformLFTP(t, e, st) })
			t.Run("ftplib", func(t *testing.T) { conformFtplib(t, e, st) })
			t.Run("go", func(t *testing.T) { conformGo(t, e, st, big) })
		})
	}
}

func conformCurl(t *testing.T, e *env, st fileStore, b storageBackend, seed, big []byte) {
	curl := needClient(t, "curl")
	base := []string{"-sS", "--max-time", "60", "-u", user + ":" + pass}
	dir := t.TempDir()
	local := filepath.Join(dir, "up.bin")
	sum := writeRandom(t, local, 7<<20+5, 11)
	e.takeVerbs()
	run(t, time.Minute, curl, append(base, "--ftp-create-dirs", "-T", local, e.curlURL(false, "/curl/new dir/up.bin"))...)
	got, ok := st.get(t, "curl/new dir/up.bin")
	if !ok || sha256Bytes(got) != sum {
		t.Fatalf("uploaded object: %d bytes (exists %v), not the file sent", len(got), ok)
	}
	if out := run(t, time.Minute, curl, append(base, e.curlURL(false, "/seed/héllo wörld.txt"))...); out != string(seed) {
		t.Fatalf("downloaded %q", out)
	}
	if out := run(t, time.Minute, curl, append(base, "-C", "1048576", e.curlURL(false, "/seed/big.bin"))...); out != string(big[1<<20:]) {
		t.Fatalf("download from an offset: %d bytes, want %d", len(out), len(big)-1<<20)
	}
	list := run(t, time.Minute, curl, append(base, "--list-only", e.curlURL(false, "/seed/"))...)
	if names := splitLines(list); !slices.Equal(names, []string{"big.bin", "héllo wörld.txt"}) {
		t.Fatalf("NLST: %q", names)
	}
	run(t, time.Minute, curl, append(base, "-Q", "DELE /curl/new dir/up.bin", e.curlURL(false, "/"))...)
	if _, ok := st.get(t, "curl/new dir/up.bin"); ok {
		t.Fatal("DELE left the file")
	}
	e.expectVerbs(t, []string{"MKD", "STOR", "RETR", "REST", "NLST", "DELE"}, nil)

	// APPE: appends on disk; object storage refuses it with a reply that says so, and the object is unchanged.
	st.put(t, "appended.txt", []byte("head\n"))
	tail := filepath.Join(dir, "tail.txt")
	writeFile(t, tail, "tail\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, append(base, "-v", "--append", "-T", tail, e.curlURL(false, "/appended.txt"))...).CombinedOutput()
	got, _ = st.get(t, "appended.txt")
	if b.objectStorage {
		if err == nil || !strings.Contains(string(out), "502 APPE is not supported on object storage") || string(got) != "head\n" {
			t.Fatalf("APPE on object storage: err %v, object %q, curl:\n%s", err, got, short(string(out)))
		}
	} else if err != nil || string(got) != "head\ntail\n" {
		t.Fatalf("APPE on disk: err %v, file %q", err, got)
	}
}

func conformLFTP(t *testing.T, e *env, st fileStore) {
	bin := needClient(t, "lftp")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	tree := map[string]string{"a/b/c.txt": "deep\n", "a/d.txt": "dee\n", "top.txt": "top\n", "a/b/e mpty.txt": ""}
	for name, content := range tree {
		writeFile(t, filepath.Join(src, name), content)
	}
	back := filepath.Join(dir, "back")
	e.takeVerbs()
	e.lftp(t, bin, false, []string{"set ftp:ssl-allow no", "set ftp:passive-mode on"},
		"mkdir /lftp",
		"mirror -R '"+src+"' /lftp/tree",
		"mirror /lftp/tree '"+back+"'",
		"mv /lftp/tree/top.txt /lftp/tree/moved.txt",
		"rm /lftp/tree/a/d.txt",
	)
	for name, content := range tree {
		if got, err := os.ReadFile(filepath.Join(back, name)); err != nil || string(got) != content {
			t.Errorf("mirrored back %s: %q, %v", name, got, err)
		}
	}
	for name, want := range map[string]string{"lftp/tree/a/b/c.txt": "deep\n", "lftp/tree/moved.txt": "top\n"} {
		if got, ok := st.get(t, name); !ok || string(got) != want {
			t.Errorf("%s in the store: %q (exists %v)", name, got, ok)
		}
	}
	for _, gone := range []string{"lftp/tree/top.txt", "lftp/tree/a/d.txt"} {
		if _, ok := st.get(t, gone); ok {
			t.Errorf("%s still in the store", gone)
		}
	}
	e.expectVerbs(t, []string{"MKD", "STOR", "RETR", "RNFR", "RNTO", "DELE"}, nil)
}

// conformScript is a Python ftplib session over one backend; it prints OK.
const conformScript = `
import ftplib, io, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP(timeout=30)
ftp.connect(host, port)
ftp.login(user, password)
ftp.mkd("py")
ftp.mkd("py/sub")
body = bytes(range(256)) * 30000  # 7.3 MiB
ftp.storbinary("STOR py/sub/data.bin", io.BytesIO(body))
assert ftp.size("py/sub/data.bin") == len(body), "size"
got = bytearray()
ftp.retrbinary("RETR py/sub/data.bin", got.extend, rest=1000)
assert bytes(got) == body[1000:], ("rest", len(got))
facts = dict(ftp.mlsd("py", facts=["type", "size"]))
assert facts["sub"]["type"] == "dir", facts
facts = dict(ftp.mlsd("py/sub", facts=["type", "size"]))
assert facts["data.bin"]["type"] == "file" and int(facts["data.bin"]["size"]) == len(body), facts
ftp.rename("py/sub/data.bin", "py/renamed.bin")
assert sorted(ftp.nlst("py")) in (["py/renamed.bin", "py/sub"], ["renamed.bin", "sub"]), ftp.nlst("py")
try:
    ftp.rmd("py")
    raise SystemExit("RMD of a non-empty directory succeeded")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
ftp.rmd("py/sub")
ftp.delete("py/renamed.bin")
ftp.rmd("py")
assert "py" not in ftp.nlst(), ftp.nlst()
ftp.quit()
print("OK")
`

func conformFtplib(t *testing.T, e *env, st fileStore) {
	py := needClient(t, "python3")
	script := filepath.Join(t.TempDir(), "conform.py")
	if err := os.WriteFile(script, []byte(conformScript), 0o644); err != nil {
		t.Fatal(err)
	}
	e.takeVerbs()
	if out := run(t, 2*time.Minute, py, script, e.host, e.port, user, pass); strings.TrimSpace(out) != "OK" {
		t.Fatalf("ftplib: %s", short(out))
	}
	if _, ok := st.get(t, "py/renamed.bin"); ok {
		t.Fatal("deleted file still in the store")
	}
	e.expectVerbs(t, []string{"MKD", "STOR", "SIZE", "REST", "RETR", "MLSD", "RNFR", "RNTO", "NLST", "RMD", "DELE"}, nil)
}

func conformGo(t *testing.T, e *env, st fileStore, big []byte) {
	c, err := ftp.Dial(e.host+":"+e.port, ftp.DialWithTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(user, pass); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeDir("go"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("go/copy.bin", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if got, ok := st.get(t, "go/copy.bin"); !ok || !bytes.Equal(got, big) {
		t.Fatalf("stored %d bytes (exists %v)", len(got), ok)
	}
	r, err := c.RetrFrom("go/copy.bin", 12345)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, big[12345:]) {
		t.Fatalf("REST+RETR: %d bytes, %v", len(got), err)
	}
	if n, err := c.FileSize("go/copy.bin"); err != nil || n != int64(len(big)) {
		t.Fatalf("SIZE %d, %v", n, err)
	}
	if _, err := c.GetTime("go/copy.bin"); err != nil {
		t.Fatalf("MDTM: %v", err)
	}
	if err := c.SetTime("go/copy.bin", time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)); err != nil {
		t.Fatalf("MFMT: %v", err)
	}
	if mt, err := c.GetTime("go/copy.bin"); err != nil || !mt.Equal(time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Fatalf("MDTM after MFMT: %v, %v", mt, err)
	}
	if err := c.ChangeDir("go"); err != nil {
		t.Fatal(err)
	}
	entries, err := c.List(".")
	if err != nil || len(entries) != 1 || entries[0].Name != "copy.bin" || entries[0].Size != uint64(len(big)) {
		t.Fatalf("MLSD: %+v, %v", entries, err)
	}
	if err := c.Rename("copy.bin", "../moved.bin"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDirToParent(); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDir("go"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("moved.bin"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("moved.bin"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("DELE of a deleted file: %v", err)
	}
	for _, name := range []string{"go/copy.bin", "moved.bin"} {
		if _, ok := st.get(t, name); ok {
			t.Fatalf("%s still in the store", name)
		}
	}
}

func sha256Bytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
