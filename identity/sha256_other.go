//go:build !amd64

package identity

// hasSHA is false: only amd64 has the fast path.
const hasSHA = false

func blockSHANI(h *[8]uint32, p *byte, blocks int) { panic("identity: no SHA extensions") }
