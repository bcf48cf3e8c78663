// Package portalloc hands out contiguous ranges of passive ports from one pool, without overlap.
//
// It keeps no state of its own across restarts: the API is the source of truth. The operator records every
// grant in the FTPServer's status and, on start, replays them all with Assign before it makes any Allocate call,
// so a restart never hands out a port twice.
package portalloc

import (
	"errors"
	"fmt"
	"sync"
)

// Range is an inclusive range of ports.
type Range struct {
	Start, End int32
}

// Size is the number of ports in r.
func (r Range) Size() int32 { return r.End - r.Start + 1 }

// Contains reports whether port p is in r.
func (r Range) Contains(p int32) bool { return p >= r.Start && p <= r.End }

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End) }

// ParseRange parses "start-end".
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
)

// ConflictError says that a range overlaps ports that another key holds, or that are blocked.
type ConflictError struct {
	Port   int32  // the first port in conflict
	Holder string // the key that holds it, or the reason it is blocked
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("port %d is already held by %s", e.Port, e.Holder)
}

// Allocator is safe for concurrent use.
type Allocator struct {
	mu      sync.Mutex
	pool    Range
	grants  map[string]Range // key (namespace/name) -> granted range
	holder  []string         // index port-pool.Start -> key holding it, "" when free
	blocked map[int32]string // ports held by something outside the allocator, with the reason
}

// New returns an allocator over pool.
func New(pool Range) *Allocator {
	return &Allocator{
		pool:    pool,
		grants:  map[string]Range{},
		holder:  make([]string, pool.Size()),
		blocked: map[int32]string{},
	}
}

// Pool is the range the allocator hands out from.
func (a *Allocator) Pool() Range { return a.pool }

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
	if r.Start > r.End || !a.pool.Contains(r.Start) || !a.pool.Contains(r.End) {
		return fmt.Errorf("%s for %s (pool %s): %w", r, key, a.pool, ErrOutsidePool)
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
func (a *Allocator) Allocate(key string, size int32) (Range, error) {
	if size < 1 {
		return Range{}, ErrInvalidSize
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old, had := a.grants[key]
	if had && old.Size() == size && a.free(key, old) == nil { // a port blocked since is a reason to move
		return old, nil
	}
	if had {
		if r := (Range{old.Start, old.Start + size - 1}); a.pool.Contains(r.End) && a.free(key, r) == nil {
			a.releaseLocked(key)
			a.take(key, r)
			return r, nil
		}
	}
	for start := a.pool.Start; start+size-1 <= a.pool.End; {
		r := Range{start, start + size - 1}
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
		start = ce.Port + 1 // nothing starting at or before the conflicting port can fit
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

// Free is the number of ports neither granted nor blocked.
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
// conflicting port (so that a first-fit scan can jump past it).
func (a *Allocator) free(key string, r Range) error {
	for p := r.End; p >= r.Start; p-- {
		if h := a.holder[p-a.pool.Start]; h != "" && h != key {
			return &ConflictError{Port: p, Holder: h}
		}
		if reason, ok := a.blocked[p]; ok {
			return &ConflictError{Port: p, Holder: reason}
		}
	}
	return nil
}

func (a *Allocator) take(key string, r Range) {
	for p := r.Start; p <= r.End; p++ {
		a.holder[p-a.pool.Start] = key
	}
	a.grants[key] = r
}

func (a *Allocator) releaseLocked(key string) bool {
	r, ok := a.grants[key]
	if !ok {
		return false
	}
	for p := r.Start; p <= r.End; p++ {
		a.holder[p-a.pool.Start] = ""
	}
	delete(a.grants, key)
	return true
}
