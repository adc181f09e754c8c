//go:build amd64

package identity

// hasSHA reports whether blockSHANI can run here.
var hasSHA = cpuidSHA()

//go:noescape
func blockSHANI(h *[8]uint32, p *byte, blocks int)

func cpuidSHA() bool
