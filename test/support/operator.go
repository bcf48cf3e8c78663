package support

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// OperatorBinary builds cmd/ftp-operator once per test binary and returns its path; $FTP_OPERATOR_BIN, when set,
// names a binary to use instead (for example one built from an older commit, to measure before and after).
func OperatorBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FTP_OPERATOR_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "ftp-operator-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "ftp-operator")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/ftp-operator")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/ftp-operator: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 10 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		dir = filepath.Dir(dir)
	}
	return "", fmt.Errorf("no go.mod above the working directory")
}

// Kubeconfig writes a kubeconfig of a system:masters user of env into the test's temporary folder.
func Kubeconfig(t testing.TB, env *envtest.Environment, user string) string {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(env, user, kc); err != nil {
		t.Fatal(err)
	}
	return kc
}

// WriteKubeconfig writes a kubeconfig of a new system:masters user of env to path.
func WriteKubeconfig(env *envtest.Environment, user, path string) error {
	u, err := env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	b, err := u.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// OperatorProcess is `ftp-operator manager` running as a process of its own, so that a test can kill it with
// SIGKILL (no lease released, nothing flushed) and read its memory as the kernel counts it.
type OperatorProcess struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Args is the process's command line.
func (p *OperatorProcess) Args() []string { return p.cmd.Args }

// StartOperatorProcess runs bin's manager with kubeconfig and the given extra flags (after the defaults: no
// metrics or probe listeners, a dummy engine image). It is killed by its PID when the test ends; its log tail is
// printed if the test failed.
func StartOperatorProcess(t testing.TB, bin, kubeconfig, name string, flags ...string) *OperatorProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"manager", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--ftpd-image=localhost/ftp-operator:test"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &OperatorProcess{Name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logs.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log (tail):\n%s", name, tail(string(b), 4000))
		}
	})
	return p
}

// PID is the process id.
func (p *OperatorProcess) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *OperatorProcess) Done() <-chan struct{} { return p.done }

// Exited says whether the process has ended.
func (p *OperatorProcess) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the process (by its PID) and waits for it to end.
func (p *OperatorProcess) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Log is what the process wrote so far.
func (p *OperatorProcess) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Memory reads the process's resident set now and at its peak, in bytes, from /proc/PID/status.
func (p *OperatorProcess) Memory() (rss, peak int64, err error) { return ProcessMemory(p.PID()) }

// ProcessMemory is the resident set of process pid and its peak, in bytes, as the kernel counts them.
func ProcessMemory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024
		case "VmHWM:":
			peak = kb * 1024
		}
	}
	return rss, peak, nil
}
