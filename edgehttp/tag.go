package edgehttp

import (
	_ "embed"
	"encoding/json"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom/activation"
)

//go:embed tag.js
var tagSource string

// tagConfig is what tag.js is told of its publisher. Nothing here identifies a user.
type tagConfig struct {
	Cookie  string `json:"cookie,omitempty"`
	Storage string `json:"storage,omitempty"`
	Timeout int    `json:"timeout"`
}

// renderTag returns the page tag of a publisher: tag.js with its configuration.
func renderTag(publisherID string, m *activation.Manifest, timeout time.Duration) []byte {
	cfg, _ := json.Marshal(tagConfig{Cookie: m.UIDCookie, Storage: m.UIDStorageKey, Timeout: int(timeout / time.Millisecond)})
	return []byte(strings.Replace(tagSource, "/*CONFIG*/{}", string(cfg), 1))
}
