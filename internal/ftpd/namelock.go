package ftpd

import "sync"

// nameLocks serialises commits to the same file name (APPE, REST+STOR and
// STOR of one name from several sessions), so that no update is lost. Locks
// are held only while a finished upload is committed, never during a
// network transfer; an entry lives only while someone holds or waits for it.
type nameLocks struct {
	mu sync.Mutex
	m  map[string]*nameLock
}

type nameLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock function.
func (n *nameLocks) lock(key string) func() {
	n.mu.Lock()
	if n.m == nil {
		n.m = make(map[string]*nameLock)
	}
	l := n.m[key]
	if l == nil {
		l = &nameLock{}
		n.m[key] = l
	}
	l.refs++
	n.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		n.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(n.m, key)
		}
		n.mu.Unlock()
	}
}
