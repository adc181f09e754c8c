package keyring

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// RootLabel is the label the root of purpose keys is wrapped under.
const RootLabel = "derivation-root"

// ErrNotInRecord says a root record holds no root for the master key: it is not the deployment's
// key (or was rotated away).
var ErrNotInRecord = errors.New("keyring: the root record holds no root for this master key")

// RootRecord keeps the root of purpose keys wrapped under each master key in use: the current
// one, and during a rotation also the next. Without a record (a deployment never rotated) the
// root is the master key itself.
type RootRecord struct {
	Version int `json:"version"`
	// Wrapped maps a master key's ID to the root wrapped under it.
	Wrapped map[string][]byte `json:"wrapped"`
}

// ID identifies the master key (not its root) without revealing it.
func (m *Master) ID() string { return hex.EncodeToString(derive(m.key[:], "key-id/v1")[:8]) }

// RootID identifies the root of m's purpose keys without revealing it: the same for every master
// key of one deployment, before and after rotations.
func (m *Master) RootID() string { return hex.EncodeToString(derive(m.root[:], "root-id/v1")[:8]) }

// InheritRoot gives m the root of prev: the next master key of a rotation derives the same
// purpose keys as the one it replaces.
func (m *Master) InheritRoot(prev *Master) { m.root = prev.root }

// AddTo records m's root, wrapped under m, in rec.
func (m *Master) AddTo(rec *RootRecord) error {
	w, err := m.Wrap(m.root[:], RootLabel)
	if err != nil {
		return err
	}
	if rec.Wrapped == nil {
		rec.Version, rec.Wrapped = 1, map[string][]byte{}
	}
	rec.Wrapped[m.ID()] = w
	return nil
}

// OpenRoot sets m's root from rec: ErrNotInRecord when rec holds none for m.
func (m *Master) OpenRoot(rec *RootRecord) error {
	w, ok := rec.Wrapped[m.ID()]
	if !ok {
		return ErrNotInRecord
	}
	root, err := m.Unwrap(w, RootLabel)
	if err != nil {
		return fmt.Errorf("keyring: root record: %w", err)
	}
	copy(m.root[:], root)
	return nil
}
