package support

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartProcess starts cmd and stops it when the test ends: SIGTERM (so it drains as in a pod), SIGKILL after 15 s.
// If the test failed, describe's text is logged (the process's arguments and output, say). The returned channel
// receives the process's exit.
func StartProcess(t testing.TB, cmd *exec.Cmd, describe func() string) <-chan error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Logf("%s did not stop within 15s of SIGTERM: killed", cmd.Path)
		}
		if t.Failed() && describe != nil {
			t.Log(describe())
		}
	})
	return exited
}
