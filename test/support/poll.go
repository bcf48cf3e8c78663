package support

import (
	"testing"
	"time"
)

// Eventually calls cond every interval until it returns true, for at most timeout, and returns how long that
// took. When the time is up it fails t, naming what it waited for and cond's last error.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, cond func() (bool, error)) time.Duration {
	t.Helper()
	start := time.Now()
	var lastErr error
	for time.Since(start) < timeout {
		ok, err := cond()
		if ok {
			return time.Since(start)
		}
		lastErr = err
		time.Sleep(interval)
	}
	if lastErr != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
	return 0
}

// WaitFor is Eventually for a condition that has no error to report.
func WaitFor(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return Eventually(t, timeout, interval, what, func() (bool, error) { return cond(), nil })
}
