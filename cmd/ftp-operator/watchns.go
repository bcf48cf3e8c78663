//go:build !ftpdonly

package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// watchNamespaces parses --watch-namespaces (comma-separated namespace names) into the cache's DefaultNamespaces:
// nil (every namespace) when empty. Several installs in one cluster each watch their own namespaces and each need
// a passive-port pool of their own, since one install does not see the other's grants.
func watchNamespaces(s string) (map[string]cache.Config, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	ns := map[string]cache.Config{}
	for n := range strings.SplitSeq(s, ",") {
		n = strings.TrimSpace(n)
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			return nil, fmt.Errorf("namespace %q: %s", n, strings.Join(errs, "; "))
		}
		ns[n] = cache.Config{}
	}
	return ns, nil
}
