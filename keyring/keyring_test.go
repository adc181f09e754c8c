package keyring_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom/keyring"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	m1, created, err := keyring.LoadOrCreate(path, "")
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	m2, created, err := keyring.LoadOrCreate(path, "")
	if err != nil || created {
		t.Fatalf("second load: created=%v err=%v", created, err)
	}
	if !m1.Equal(m2) {
		t.Error("reloaded key differs")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keyring.LoadOrCreate(path, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: err = %v, want a chmod hint", err)
	}
}

func TestEnvKeyWins(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	m, created, err := keyring.LoadOrCreate(filepath.Join(t.TempDir(), "none"), hexKey)
	if err != nil || created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	b64, err := keyring.Parse(m.String())
	if err != nil || !b64.Equal(m) {
		t.Fatalf("hex and base64 forms disagree: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("ab", 31)} {
		if _, err := keyring.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a bad key", bad)
		}
	}
}

func TestDeriveAndWrap(t *testing.T) {
	m := keyring.Generate()
	if bytes.Equal(m.Derive("a"), m.Derive("b")) {
		t.Error("different purposes gave the same key")
	}
	if !bytes.Equal(m.Derive("a"), m.Derive("a")) {
		t.Error("derivation is not deterministic")
	}
	dk := keyring.NewDataKey()
	w, err := m.Wrap(dk, "vault:1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Unwrap(w, "vault:1")
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := m.Unwrap(w, "vault:2"); err == nil {
		t.Error("unwrap under another label succeeded")
	}
	if _, err := keyring.Generate().Unwrap(w, "vault:1"); err == nil {
		t.Error("unwrap under another master key succeeded")
	}
}

// TestRootKeptAcrossRotation: a next key that inherits the root derives the same purpose keys
// but wraps differently; the root record opens the root for the keys it names only.
func TestRootKeptAcrossRotation(t *testing.T) {
	old, next := keyring.Generate(), keyring.Generate()
	next.InheritRoot(old)
	if !bytes.Equal(old.Derive("user-key"), next.Derive("user-key")) {
		t.Fatal("the next key derives other purpose keys")
	}
	w, err := next.Wrap(keyring.NewDataKey(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Unwrap(w, "x"); err == nil {
		t.Fatal("the old key unwraps what the next wrapped")
	}
	var rec keyring.RootRecord
	if err := next.AddTo(&rec); err != nil {
		t.Fatal(err)
	}
	reloaded, err := keyring.Parse(next.String())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(reloaded.Derive("user-key"), old.Derive("user-key")) {
		t.Fatal("a key without its root record derives the old root's keys")
	}
	if err := reloaded.OpenRoot(&rec); err != nil || !bytes.Equal(reloaded.Derive("user-key"), old.Derive("user-key")) {
		t.Fatalf("the root record did not give the root back: %v", err)
	}
	if err := old.OpenRoot(&rec); err != keyring.ErrNotInRecord {
		t.Fatalf("a key the record does not name: %v", err)
	}
}
