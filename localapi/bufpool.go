package localapi

import "sync"

// bufPool keeps byte buffers for reuse (sync.Pool: the GC drops those left
// unused, so an idle daemon keeps none).
type bufPool struct{ p sync.Pool }

// get returns an empty buffer.
func (p *bufPool) get() *[]byte {
	if bp, ok := p.p.Get().(*[]byte); ok {
		*bp = (*bp)[:0]
		return bp
	}
	return new([]byte)
}

// put returns bp once nothing refers to its bytes; a buffer grown past max
// bytes is left to the GC.
func (p *bufPool) put(bp *[]byte, max int) {
	if cap(*bp) <= max {
		p.p.Put(bp)
	}
}
