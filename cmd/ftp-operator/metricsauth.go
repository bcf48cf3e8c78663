//go:build !ftpdonly

package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsAuth is the filter of the --metrics-secure endpoint: the same checks as controller-runtime's
// filters.WithAuthenticationAndAuthorization (the kubebuilder scaffold's), written against client-go's typed
// clients. That filter goes through k8s.io/apiserver's delegating authenticator and authorizer, which grow the
// binary from 34 to 55 MB (+60 %, in an image every FTP server pod pulls too) for two API calls.
//
// A request needs a bearer token the API server authenticates (a TokenReview; otherwise 401) and whose user may
// GET the request's path as a non-resource URL (a SubjectAccessReview, such as the metrics-reader ClusterRole's
// nonResourceURLs /metrics; otherwise 403). Answers are cached per token, path and verb, like the delegating
// authorizer's: allowed for allowTTL, refused for denyTTL, so a scrape every 30 s costs the API server two calls
// every few minutes.
type metricsAuth struct {
	reviews  tokenReviewCreator
	access   sarCreator
	allowTTL time.Duration
	denyTTL  time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]authDecision
}

type tokenReviewCreator interface {
	Create(context.Context, *authenticationv1.TokenReview, metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

type sarCreator interface {
	Create(context.Context, *authorizationv1.SubjectAccessReview, metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

type authDecision struct {
	status  int // http.StatusOK, StatusUnauthorized or StatusForbidden
	user    string
	expires time.Time
}

// maxAuthCache bounds the cache: tokens are per scraper, so a few entries are normal; past this it starts over.
const maxAuthCache = 1024

// metricsAuthFilter is a metricsserver.Options.FilterProvider.
func metricsAuthFilter(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	cs, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication client: %w", err)
	}
	a := &metricsAuth{
		reviews: cs.AuthenticationV1().TokenReviews(), access: cs.AuthorizationV1().SubjectAccessReviews(),
		allowTTL: 5 * time.Minute, denyTTL: 30 * time.Second, now: time.Now,
	}
	return a.filter, nil
}

func (a *metricsAuth) filter(log logr.Logger, next http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			http.Error(w, "Unauthorized: a bearer token is required", http.StatusUnauthorized)
			return
		}
		d, err := a.decide(req.Context(), strings.TrimSpace(token), req.URL.Path, strings.ToLower(req.Method))
		if err != nil {
			log.Error(err, "checking a metrics client")
			http.Error(w, "Authentication or authorization failed", http.StatusInternalServerError)
			return
		}
		switch d.status {
		case http.StatusOK:
			next.ServeHTTP(w, req)
		case http.StatusForbidden:
			log.V(4).Info("metrics client refused", "user", d.user, "path", req.URL.Path)
			http.Error(w, fmt.Sprintf("Forbidden: %s may not %s %s", d.user, req.Method, req.URL.Path), http.StatusForbidden)
		default:
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		}
	}), nil
}

// decide returns the cached or a fresh decision for token on path and verb; an error (the API server could not
// be asked) is not cached.
func (a *metricsAuth) decide(ctx context.Context, token, path, verb string) (authDecision, error) {
	key := sha256.Sum256([]byte(verb + " " + path + "\x00" + token))
	now := a.now()
	a.mu.Lock()
	d, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(d.expires) {
		return d, nil
	}
	d, err := a.review(ctx, token, path, verb)
	if err != nil {
		return d, err
	}
	d.expires = now.Add(a.denyTTL)
	if d.status == http.StatusOK {
		d.expires = now.Add(a.allowTTL)
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) >= maxAuthCache {
		a.cache = map[[sha256.Size]byte]authDecision{}
	}
	a.cache[key] = d
	a.mu.Unlock()
	return d, nil
}

func (a *metricsAuth) review(ctx context.Context, token, path, verb string) (authDecision, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tr, err := a.reviews.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return authDecision{}, fmt.Errorf("TokenReview: %w", err)
	}
	if !tr.Status.Authenticated {
		return authDecision{status: http.StatusUnauthorized}, nil
	}
	u := tr.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return authDecision{}, fmt.Errorf("SubjectAccessReview for %s: %w", u.Username, err)
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		return authDecision{status: http.StatusForbidden, user: u.Username}, nil
	}
	return authDecision{status: http.StatusOK, user: u.Username}, nil
}
