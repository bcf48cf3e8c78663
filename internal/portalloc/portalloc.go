// Package portalloc hands out contiguous ranges of passive ports from one pool, without overlap.
//
// It keeps no state of its own across restarts: the API is the source of truth. The operator records every
// grant in the FTPServer's Service (and status) and, on start, replays them all with Keep before it makes any
// Allocate call, so a restart never hands out a port twice and never moves a grant that a smaller pool no longer
// holds.
package portalloc

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ftp-operator/ftp-operator/internal/portrange"
)

// Range is an inclusive range of ports: the one port-range type below the API edge, which the engine listens on
// too. The allocator never sets its AdvertisedStart.
type Range = portrange.Range

// ParseRange parses the pool, "start-end".
func ParseRange(s string) (Range, error) {
	var r Range
	if _, err := fmt.Sscanf(s, "%d-%d", &r.Start, &r.End); err != nil {
		return Range{}, fmt.Errorf("port range %q: want START-END: %w", s, err)
	}
	if r.Start < 1 || r.End > 65535 || r.Start > r.End {
		return Range{}, fmt.Errorf("port range %q: want 1 <= START <= END <= 65535", s)
	}
	return r, nil
}

var (
	// ErrPoolExhausted means no free contiguous range of the requested size is left.
	ErrPoolExhausted = errors.New("passive port pool exhausted")
	// ErrOutsidePool means a pinned range does not lie inside the pool.
	ErrOutsidePool = errors.New("range outside the passive port pool")
	// ErrInvalidSize means a size below 1 was asked for.
	ErrInvalidSize = errors.New("range size must be at least 1")
	// ErrNamespaceLimit means the namespace would hold more ports than the per-namespace limit allows.
	ErrNamespaceLimit = errors.New("namespace passive-port limit reached")
)

// NamespaceLimitError says how far a namespace is from its limit. It wraps ErrNamespaceLimit.
type NamespaceLimitError struct {
	Namespace   string
	Held, Limit int32 // ports the namespace's other keys hold, and the limit
	Want        int32 // ports asked for
}

func (e *NamespaceLimitError) Error() string {
	return fmt.Sprintf("namespace %s holds %d passive ports and may hold %d; %d more do not fit", e.Namespace, e.Held, e.Limit, e.Want)
}

func (e *NamespaceLimitError) Unwrap() error { return ErrNamespaceLimit }

// ConflictError says that a range overlaps ports that another key holds, or that are blocked.
type ConflictError struct {
	// Span is the run of ports of the asked range that Holder holds (or that is blocked for the same reason) and
	// that ends at the highest port in conflict (Span.End): what a person must free, or move the range off. Ports
	// below Span.Start may be in conflict too, with another holder.
	Span    Range
	Holder  string // the key that holds Span, or the reason it is blocked
	Blocked bool   // Holder is the reason of a Block, not a key
	// Asked is the range that was asked for.
	Asked Range
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s of %s is already held by %s", e.Span, e.Asked, e.Holder)
}

// Allocator is safe for concurrent use.
type Allocator struct {
	mu      sync.Mutex
	pool    Range
	grants  map[string]Range // key (namespace/name) -> granted range
	holder  []string         // index port-pool.Start -> key holding it, "" when free
	outside map[int32]string // ports outside the pool of grants kept by Keep -> key holding it
	blocked map[int32]string // ports held by something outside the allocator, with the reason
	held    map[string]int32 // namespace -> ports its keys hold
	limit   int32            // ports one namespace may hold; 0: no limit
}

// New returns an allocator over pool.
func New(pool Range) *Allocator {
	return &Allocator{
		pool:    pool,
		grants:  map[string]Range{},
		holder:  make([]string, pool.Size()),
		outside: map[int32]string{},
		blocked: map[int32]string{},
		held:    map[string]int32{},
	}
}

// SetNamespaceLimit caps the ports that the keys of one namespace ("namespace/name") may hold together; 0 means
// no cap. Assign and Allocate refuse a grant above it with a *NamespaceLimitError; Keep does not.
func (a *Allocator) SetNamespaceLimit(n int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.limit = n
}

// Pool is the range the allocator hands out from.
func (a *Allocator) Pool() Range { return a.pool }

// InPool reports whether every port of r lies inside the pool.
func (a *Allocator) InPool(r Range) bool { return a.pool.Contains(r.Start) && a.pool.Contains(r.End) }

// Get returns the grant of key.
func (a *Allocator) Get(key string) (Range, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.grants[key]
	return r, ok
}

// Assign grants exactly r to key. It is idempotent; a key that held another range gives that up, unless r
// cannot be granted, in which case the old grant stays.
func (a *Allocator) Assign(key string, r Range) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.grants[key]; ok && old == r {
		return nil // also a grant outside the pool that Keep kept
	}
	if r.Start > r.End || !a.InPool(r) {
		return fmt.Errorf("%s for %s (pool %s): %w", r, key, a.pool, ErrOutsidePool)
	}
	if err := a.free(key, r); err != nil {
		return err
	}
	if err := a.withinLimit(key, r.Size()); err != nil {
		return err
	}
	a.releaseLocked(key)
	a.take(key, r)
	return nil
}

// Keep grants exactly r to key like Assign, but also when r lies partly or wholly outside the pool, and without
// the namespace limit: it is how a restarted operator takes back the grants it finds recorded, so that a smaller
// pool or a lower limit never moves a live server. Ports outside the pool are never handed out by Allocate.
func (a *Allocator) Keep(key string, r Range) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Start < 1 || r.Start > r.End || r.End > 65535 {
		return fmt.Errorf("%s for %s: not a port range", r, key)
	}
	if old, ok := a.grants[key]; ok && old == r {
		return nil
	}
	if err := a.free(key, r); err != nil {
		return err
	}
	a.releaseLocked(key)
	a.take(key, r)
	return nil
}

// Allocate grants key a contiguous range of size ports, first fit from the bottom of the pool. A key that
// already holds a range of that size keeps it, unless one of its ports was blocked since; one that holds another
// size keeps its start when it can.
//
// A grant that lies outside the pool (kept by Keep) is kept too when its size is unchanged: only Reallocate moves it.
func (a *Allocator) Allocate(key string, size int32) (Range, error) {
	return a.allocate(key, size, true)
}

// Reallocate grants key a new range of size ports inside the pool, first fit, as Allocate does for a key that
// holds nothing; the key's old range counts as free. On error the old grant stays.
func (a *Allocator) Reallocate(key string, size int32) (Range, error) {
	return a.allocate(key, size, false)
}

func (a *Allocator) allocate(key string, size int32, keep bool) (Range, error) {
	if size < 1 {
		return Range{}, ErrInvalidSize
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old, had := a.grants[key]
	if keep && had && old.Size() == size && a.free(key, old) == nil { // a port blocked since is a reason to move
		return old, nil
	}
	if err := a.withinLimit(key, size); err != nil {
		return Range{}, err
	}
	if keep && had {
		if r := (Range{Start: old.Start, End: old.Start + size - 1}); a.InPool(r) && a.free(key, r) == nil {
			a.releaseLocked(key)
			a.take(key, r)
			return r, nil
		}
	}
	for start := a.pool.Start; start+size-1 <= a.pool.End; {
		r := Range{Start: start, End: start + size - 1}
		err := a.free(key, r)
		if err == nil {
			a.releaseLocked(key)
			a.take(key, r)
			return r, nil
		}
		var ce *ConflictError
		if !errors.As(err, &ce) {
			return Range{}, err
		}
		start = ce.Span.End + 1 // nothing starting at or before the highest conflicting port can fit
	}
	return Range{}, fmt.Errorf("%d ports for %s from pool %s: %w", size, key, a.pool, ErrPoolExhausted)
}

// Release gives up the grant of key. It reports whether key held one.
func (a *Allocator) Release(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.releaseLocked(key)
}

// Block marks port as held by something outside the allocator (for example a NodePort of a Service the operator
// does not own), so that no later grant includes it. Blocks last as long as the allocator.
func (a *Allocator) Block(port int32, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.blocked[port] = reason
}

// Allocated is the number of ports granted, inside the pool or (kept by Keep) outside it.
func (a *Allocator) Allocated() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.grants {
		n += int(r.Size())
	}
	return n
}

// Free is the number of ports of the pool neither granted nor blocked.
func (a *Allocator) Free() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for i, h := range a.holder {
		if _, b := a.blocked[a.pool.Start+int32(i)]; h == "" && !b {
			n++
		}
	}
	return n
}

// free returns nil when every port of r is free or held by key itself, else a *ConflictError for the highest
// conflicting port (so that a first-fit scan can jump past it), with the span of r that the same holder holds.
func (a *Allocator) free(key string, r Range) error {
	for p := r.End; p >= r.Start; p-- {
		if h := a.holderOf(p); h != "" && h != key {
			lo := p
			for lo > r.Start && a.holderOf(lo-1) == h {
				lo--
			}
			return &ConflictError{Span: Range{Start: lo, End: p}, Holder: h, Asked: r}
		}
		if reason, ok := a.blocked[p]; ok {
			lo := p
			for lo > r.Start && a.blocked[lo-1] == reason && a.holderOf(lo-1) == "" {
				lo--
			}
			return &ConflictError{Span: Range{Start: lo, End: p}, Holder: reason, Blocked: true, Asked: r}
		}
	}
	return nil
}

func (a *Allocator) holderOf(p int32) string {
	if a.pool.Contains(p) {
		return a.holder[p-a.pool.Start]
	}
	return a.outside[p]
}

func (a *Allocator) setHolder(p int32, key string) {
	switch {
	case a.pool.Contains(p):
		a.holder[p-a.pool.Start] = key
	case key == "":
		delete(a.outside, p)
	default:
		a.outside[p] = key
	}
}

// withinLimit checks that key may hold size ports under the namespace limit, counting what its namespace's other
// keys hold.
func (a *Allocator) withinLimit(key string, size int32) error {
	if a.limit <= 0 {
		return nil
	}
	ns := namespaceOf(key)
	others := a.held[ns]
	if old, ok := a.grants[key]; ok {
		others -= old.Size()
	}
	if others+size > a.limit {
		return &NamespaceLimitError{Namespace: ns, Held: others, Limit: a.limit, Want: size}
	}
	return nil
}

func namespaceOf(key string) string {
	ns, _, _ := strings.Cut(key, "/")
	return ns
}

func (a *Allocator) take(key string, r Range) {
	for p := r.Start; p <= r.End; p++ {
		a.setHolder(p, key)
	}
	a.grants[key] = r
	a.held[namespaceOf(key)] += r.Size()
}

func (a *Allocator) releaseLocked(key string) bool {
	r, ok := a.grants[key]
	if !ok {
		return false
	}
	for p := r.Start; p <= r.End; p++ {
		a.setHolder(p, "")
	}
	delete(a.grants, key)
	ns := namespaceOf(key)
	if a.held[ns] -= r.Size(); a.held[ns] <= 0 {
		delete(a.held, ns)
	}
	return true
}
