// Package addressfollow runs in the engine's pod: it follows the address the operator publishes for one FTPServer
// (and publishes the pod's storage health back, Publisher), with a small REST client of its own (Client) — no
// client-go, no reconciler, no controller-runtime manager, so that the engine does not carry them.
package addressfollow

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// Retry pacing of a follower whose list or watch fails (the API server unreachable, the watch expired): like
// client-go's reflector, a backoff from retryMin doubling to retryMax, reset by a watch that delivered events.
const (
	retryMin = 800 * time.Millisecond
	retryMax = 30 * time.Second
	// watchTimeout asks the API server to end each watch after this long; the follower then watches again from
	// the last resourceVersion (a bounded request, and a fresh connection now and then).
	watchTimeout = 5 * time.Minute
)

// configMap is the part of a ConfigMap the follower reads.
type configMap struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
}

type configMapList struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []configMap `json:"items"`
}

type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// apiStatus is the API server's Status body of an error.
type apiStatus struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// errExpired is a watch whose resourceVersion is too old (410 Gone): list again.
var errExpired = errors.New("watch expired")

// Follow calls set with the address the operator published for the FTPServer target, at once and on every change,
// until ctx ends. The address is read from the operator-owned ConfigMap of the server (target.ConfigMapName(), key
// engineconfig.AddressKey), never from status.address, which anyone allowed to write ftpservers/status could forge. It
// lists and watches that one ConfigMap by name (a field selector), which is all the engine's Role allows, and
// reconnects by itself after a broken or expired watch (listing again when the API server says 410 Gone).
//
// It returns once the first list has been seen (so a restarted pod starts with the current address) or when ctx
// ends; the watch goes on in the background.
func Follow(ctx context.Context, c *Client, target engineconfig.FollowTarget, set func(address string)) error {
	f := &follower{c: c, ns: target.Namespace, name: target.ConfigMapName(), set: set}
	synced := make(chan struct{})
	go f.run(ctx, synced)
	select {
	case <-synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("following the address of FTPServer %s (ConfigMap %s): %w", target, f.name, ctx.Err())
	}
}

type follower struct {
	c        *Client
	ns, name string
	set      func(string)
}

func (f *follower) run(ctx context.Context, synced chan struct{}) {
	backoff := retryMin
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			var err error
			if rv, err = f.list(ctx); err == nil && synced != nil {
				close(synced)
				synced = nil
			}
		}
		if rv != "" {
			var delivered bool
			var err error
			rv, delivered, err = f.watch(ctx, rv)
			if errors.Is(err, errExpired) {
				rv = ""
				continue
			}
			if err == nil || delivered {
				backoff = retryMin
			}
			if err == nil {
				continue // the API server ended the watch (timeoutSeconds): watch again at once
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, retryMax)
	}
}

func (f *follower) url(q url.Values) string {
	q.Set("fieldSelector", "metadata.name="+f.name)
	return f.c.Host + "/api/v1/namespaces/" + url.PathEscape(f.ns) + "/configmaps?" + q.Encode()
}

func (f *follower) push(cm configMap) { f.set(cm.Data[engineconfig.AddressKey]) }

// list reads the ConfigMap (if it exists), pushes its address and returns the list's resourceVersion.
func (f *follower) list(ctx context.Context) (string, error) {
	resp, err := f.c.do(ctx, http.MethodGet, f.url(url.Values{}), "", nil, 30*time.Second)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var l configMapList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return "", fmt.Errorf("decoding the ConfigMap list: %w", err)
	}
	for _, cm := range l.Items {
		f.push(cm)
	}
	return l.Metadata.ResourceVersion, nil
}

// watch streams changes after rv until the API server ends the watch (nil error), ctx ends or the stream fails. It
// returns the last resourceVersion seen and whether any event arrived.
func (f *follower) watch(ctx context.Context, rv string) (string, bool, error) {
	q := url.Values{"watch": {"true"}, "resourceVersion": {rv}, "allowWatchBookmarks": {"true"},
		"timeoutSeconds": {fmt.Sprint(int(watchTimeout.Seconds()))}}
	resp, err := f.c.do(ctx, http.MethodGet, f.url(q), "", nil, 0)
	if err != nil {
		var st *StatusError
		if errors.As(err, &st) && st.Code == http.StatusGone {
			return rv, false, errExpired
		}
		return rv, false, err
	}
	defer resp.Body.Close()
	delivered := false
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev watchEvent
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return rv, delivered, nil
			}
			return rv, delivered, fmt.Errorf("reading the watch of ConfigMap %s/%s: %w", f.ns, f.name, err)
		}
		delivered = true
		switch ev.Type {
		case "ERROR":
			var st apiStatus
			_ = json.Unmarshal(ev.Object, &st)
			if st.Code == http.StatusGone {
				return rv, delivered, errExpired
			}
			return rv, delivered, fmt.Errorf("watch of ConfigMap %s/%s: %d %s: %s", f.ns, f.name, st.Code, st.Reason, st.Message)
		case "ADDED", "MODIFIED", "DELETED", "BOOKMARK":
			var cm configMap
			if err := json.Unmarshal(ev.Object, &cm); err != nil {
				return rv, delivered, fmt.Errorf("decoding a watch event: %w", err)
			}
			if cm.Metadata.ResourceVersion != "" {
				rv = cm.Metadata.ResourceVersion
			}
			if ev.Type == "ADDED" || ev.Type == "MODIFIED" {
				f.push(cm)
			}
		}
	}
}

// StatusError is a request the API server refused: its HTTP status and the Status message.
type StatusError struct {
	Code    int
	Reason  string
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("the API server answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("the API server answered %d %s: %s", e.Code, e.Reason, e.Message)
}

// do sends one request and returns the response of a 2xx answer (the caller closes its body), else a *StatusError.
// timeout bounds the whole request (0: only ctx, for watches).
func (c *Client) do(ctx context.Context, method, u, contentType string, body []byte, timeout time.Duration) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var st apiStatus
		_ = json.Unmarshal(b, &st)
		return nil, &StatusError{Code: resp.StatusCode, Reason: st.Reason, Message: st.Message}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (r *cancelOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.cancel()
	return err
}
