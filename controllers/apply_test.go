package controllers

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// requestLog records the requests a manager sends, as "METHOD path".
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, req.Method+" "+req.URL.Path)
		l.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

// wrapQuery is wrap, with each request's query string.
func (l *requestLog) wrapQuery(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
		l.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

// startLoggedOperator starts an operator for ns whose requests are logged.
func startLoggedOperator(t *testing.T, ns string) *requestLog {
	t.Helper()
	log := &requestLog{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WrapTransport = log.wrap
	startOperatorWith(t, opConfig{cfg: cfg, namespaces: []string{ns}, pool: bigPool})
	return log
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// since returns the requests from mark on, and the mark of now.
func (l *requestLog) since(mark int) ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs[mark:]), len(l.reqs)
}

// A pass that finds every child as it rendered it sends no write: no apply, no create, no status, no event. Before,
// every pass server-side-applied all six children again (and read the users Secret twice).
func TestUnchangedPassWritesNothing(t *testing.T) {
	ns := newNamespace(t)
	log := startLoggedOperator(t, ns)
	create(t, newServer(t, ns, "quiet", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }))
	waitCondition(t, ns, "quiet", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	time.Sleep(2 * time.Second) // the passes that the new children's own events bring
	_, mark := log.since(0)

	// Each change of the users Secret brings one pass, which reads the Secret from the API server (its version changed).
	secretPath := "/api/v1/namespaces/" + ns + "/secrets/users"
	for i := range 3 {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "users"}, s); err != nil {
			t.Fatal(err)
		}
		orig := s.DeepCopy()
		s.Labels = map[string]string{"poke": strings.Repeat("x", i+1)}
		if err := k8s.Patch(context.Background(), s, client.MergeFrom(orig)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "a pass reads the users Secret", func() (bool, error) {
			reqs, _ := log.since(mark)
			return slices.Contains(reqs, "GET "+secretPath), nil
		})
		time.Sleep(time.Second) // the rest of the pass
		reqs, next := log.since(mark)
		for _, r := range reqs {
			if !strings.HasPrefix(r, "GET ") {
				t.Errorf("pass %d after a change that alters no child sent %s", i, r)
			}
		}
		// The Secret is read once per pass, though both the users file and the check for missing keys need it.
		if n := len(slices.DeleteFunc(reqs, func(r string) bool { return r != "GET "+secretPath })); n != 1 {
			t.Errorf("pass %d read the users Secret %d times, want once", i, n)
		}
		mark = next
	}
}

// A child created by the first pass (a create, not an apply) is later changed by server-side apply; fields we no
// longer render must go: a user's password, the implicit-TLS Service port and the TLS volume.
func TestCreatedChildrenArePrunedOnChange(t *testing.T) {
	ns := newNamespace(t)
	startOperator(t, ns, bigPool)
	ensureSecret(t, ns, "more", map[string]string{"password": "0ther"})
	create(t, newServer(t, ns, "prune", func(s *ftpv1.FTPServer) {
		s.Spec.Users = append(s.Spec.Users, ftpv1.User{Name: "bob", PasswordSecretRef: ftpv1.SecretKeySelector{Name: "more"}})
		s.Spec.TLS = &ftpv1.TLSSpec{SecretRef: ftpv1.LocalObjectReference{Name: "tls"}, Mode: ftpv1.TLSImplicit}
	}))
	waitCondition(t, ns, "prune", ftpv1.ConditionServiceReady, metav1.ConditionTrue, "")
	if !hasPort(getService(t, ns, "prune"), "ftps") {
		t.Fatal("the Service has no ftps port while implicit TLS is on")
	}

	srv := getServer(t, ns, "prune")
	orig := srv.DeepCopy()
	srv.Spec.Users = srv.Spec.Users[:1]
	srv.Spec.TLS = nil
	if err := k8s.Patch(context.Background(), srv, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "bob's password, the ftps port and the TLS volume removed", func() (bool, error) {
		users := &corev1.Secret{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.UsersSecretName(srv)}, users); err != nil {
			return false, err
		}
		dep := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "prune"}, dep); err != nil {
			return false, err
		}
		_, bob := users.Data["bob.password"]
		tls := slices.ContainsFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "tls" })
		ftps := hasPort(getService(t, ns, "prune"), "ftps")
		return !bob && !tls && !ftps, fmt.Errorf("still there: bob's password %v, TLS volume %v, ftps port %v", bob, tls, ftps)
	})
}

func hasPort(svc *corev1.Service, name string) bool {
	return slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == name })
}

// The users Secret is the one child whose data the manager does not cache: a new server's first pass creates it
// without reading it first, the passes after that do not read it while its cached metadata shows the version the
// operator wrote, and one edited by someone else is written back.
func TestUsersSecretIsNotReadWhileUnchanged(t *testing.T) {
	ns := newNamespace(t)
	log := startLoggedOperator(t, ns)
	srv := newServer(t, ns, "unread", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP })
	create(t, srv)
	waitCondition(t, ns, "unread", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)
	patchAnnotation(t, ns, "unread", "poke", "1") // one more pass, with every child in place
	time.Sleep(2 * time.Second)                   // the passes that the children's own events and the annotation bring
	usersPath := "/api/v1/namespaces/" + ns + "/secrets/" + render.UsersSecretName(srv)
	reqs, _ := log.since(0)
	if i := slices.Index(reqs, "GET "+usersPath); i >= 0 {
		t.Errorf("the users Secret was read (request %d of %v)", i, reqs)
	}
	if n := len(slices.DeleteFunc(slices.Clone(reqs), func(r string) bool { return r != "POST /api/v1/namespaces/"+ns+"/secrets" })); n != 1 {
		t.Errorf("%d creates of a Secret, want 1", n)
	}

	// Edited by someone else: read and written back.
	users := &corev1.Secret{}
	key := types.NamespacedName{Namespace: ns, Name: render.UsersSecretName(srv)}
	if err := k8s.Get(context.Background(), key, users); err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(users.Data)
	users.Data = map[string][]byte{render.UsersFileName: []byte("users: []\n")}
	if err := k8s.Update(context.Background(), users); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the users Secret written back", func() (bool, error) {
		if err := k8s.Get(context.Background(), key, users); err != nil {
			return false, err
		}
		return maps.EqualFunc(users.Data, want, bytes.Equal), nil
	})
}
