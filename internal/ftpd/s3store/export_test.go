package s3store

import "sync/atomic"

// CountPartAllocs makes p count the part buffers its pool allocates (tests only).
func (p *Provider) CountPartAllocs() *atomic.Int64 {
	var n atomic.Int64
	alloc := p.parts.New
	p.parts.New = func() any { n.Add(1); return alloc() }
	return &n
}

// ConnGets is how many GETs p answered on connections of its own, and how many of those RETR spliced (tests only).
func (p *Provider) ConnGets() (gets, splices int64) { return p.connGets.Load(), p.connSplices.Load() }
