// Package keyring holds the deployment's master key and everything derived from it: purpose keys
// (HKDF-SHA256) such as the identifier fingerprint key, and the wrapping of per-vault and
// per-version data keys (AES-256-GCM). Losing the master key makes every stored bulk file
// unreadable; deleting a data key shreds the files it encrypted.
//
// Purpose keys come from a root of their own, not from the master key, so that rotating the
// master key (which re-wraps every data key) leaves fingerprints, user keys and privacy seeds as
// they were: the root is the value of the deployment's first master key, and after a rotation it
// is kept wrapped under the current key in a root record (RootRecord, stored in the blob store).
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of the master key and of every derived or data key, in bytes.
const KeySize = 32

// Master is the deployment's master key.
type Master struct {
	key [KeySize]byte
	// root is the root of purpose keys (Derive): the key itself until OpenRoot or InheritRoot
	// sets the deployment's first key's value.
	root [KeySize]byte
}

// Parse decodes a master key given as 64 hex characters or as standard or URL-safe Base64 of 32
// bytes (the form of CLEANROOM_MASTER_KEY and of the key file).
func Parse(s string) (*Master, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		raw = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
				raw = b
				break
			}
		}
	}
	if raw == nil {
		return nil, errors.New("keyring: master key must be 32 bytes as 64 hex characters or Base64")
	}
	m := &Master{}
	copy(m.key[:], raw)
	m.root = m.key
	return m, nil
}

// Generate returns a new random master key.
func Generate() *Master {
	m := &Master{}
	rand.Read(m.key[:])
	m.root = m.key
	return m
}

// String returns the key as Base64, the form written to the key file.
func (m *Master) String() string { return base64.StdEncoding.EncodeToString(m.key[:]) }

// LoadOrCreate returns the master key from env if it is non-empty, else from the file at path,
// else generates one and writes it to path with mode 0600. created reports the last case. A key
// file readable by group or others is refused.
func LoadOrCreate(path, env string) (m *Master, created bool, err error) {
	if env != "" {
		m, err := Parse(env)
		if err != nil {
			return nil, false, fmt.Errorf("CLEANROOM_MASTER_KEY: %w", err)
		}
		return m, false, nil
	}
	m, err = Load(path)
	switch {
	case err == nil:
		return m, false, nil
	case errors.Is(err, fs.ErrNotExist):
		m := Generate()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("keyring: create master key: %w", err)
		}
		if _, err := f.WriteString(m.String() + "\n"); err != nil {
			f.Close()
			return nil, false, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, false, err
		}
		return m, true, f.Close()
	default:
		return nil, false, err
	}
}

// Load reads the master key from the file at path, which must exist (an error wrapping
// fs.ErrNotExist otherwise) and be readable by its owner only.
func Load(path string) (*Master, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read master key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring: %s is readable by others (mode %v); run chmod 600 on it", path, fi.Mode().Perm())
	}
	m, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// WriteFile writes the key to a new file at path with mode 0600, synced; an existing file is not
// replaced (an error wrapping fs.ErrExist).
func (m *Master) WriteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keyring: write master key: %w", err)
	}
	if _, err := f.WriteString(m.String() + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Derive returns the 32-byte key for purpose (e.g. "identity-fingerprint/v1"). The same master key
// and purpose always give the same key; different purposes give independent keys.
func (m *Master) Derive(purpose string) []byte {
	return derive(m.root[:], purpose)
}

func derive(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "cleanroom/"+purpose, KeySize)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return k
}

// NewDataKey returns a fresh random data key.
func NewDataKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// Wrap encrypts dataKey with a key derived from the master key. label binds the wrapped key to
// its use (e.g. "vault:<org id>"): unwrapping under another label fails.
func (m *Master) Wrap(dataKey []byte, label string) ([]byte, error) {
	aead, err := m.wrapAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, dataKey, []byte(label)), nil
}

// Unwrap decrypts a key produced by Wrap with the same label.
func (m *Master) Unwrap(wrapped []byte, label string) ([]byte, error) {
	aead, err := m.wrapAEAD()
	if err != nil {
		return nil, err
	}
	if len(wrapped) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("keyring: wrapped key too short")
	}
	k, err := aead.Open(nil, wrapped[:aead.NonceSize()], wrapped[aead.NonceSize():], []byte(label))
	if err != nil {
		return nil, errors.New("keyring: wrapped key does not open with this master key and label")
	}
	return k, nil
}

func (m *Master) wrapAEAD() (cipher.AEAD, error) {
	// From the key itself, not the root: wrapping is what a rotation changes.
	block, err := aes.NewCipher(derive(m.key[:], "key-wrap/v1"))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Equal reports whether two master keys are the same (for tests and key checks).
func (m *Master) Equal(o *Master) bool { return bytes.Equal(m.key[:], o.key[:]) }
