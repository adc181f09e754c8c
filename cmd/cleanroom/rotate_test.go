package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/keyring"
)

// TestRotateMasterKeyCommand: a rotation of the data directory's key that stopped half-way (the
// next key written beside master.key, one key re-wrapped) is finished by running the command
// again, which then replaces master.key; the deployment opens with the new key only.
func TestRotateMasterKeyCommand(t *testing.T) {
	dir := t.TempDir()
	data := []string{"--data", dir, "--log-level", "error"}
	admin := func(args ...string) (int, string, string) {
		return run(t, "", append(append([]string{"admin"}, args...), data...)...)
	}
	for _, name := range []string{"Daily Planet", "Acme"} {
		code, id, errs := admin("create-org", "--name", name, "--kind", "publisher")
		if code != 0 {
			t.Fatalf("create-org: %s", errs)
		}
		if code, _, errs := admin("enable-clean-room", "--org", id); code != 0 {
			t.Fatalf("enable-clean-room: %s", errs)
		}
	}
	old, err := keyring.Load(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	// The crash: master.key.next written, one of the four vault keys (each publisher has a
	// demand-side workspace) re-wrapped, then nothing.
	next := keyring.Generate()
	if err := next.WriteFile(filepath.Join(dir, "master.key.next")); err != nil {
		t.Fatal(err)
	}
	m := app.NewMain()
	m.Config.DataDir, m.Logger = dir, slog.New(slog.DiscardHandler)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep, err := m.RotateMasterKey(context.Background(), next, 1); err != nil || rep.Done {
		t.Fatalf("half a rotation: %+v %v", rep, err)
	}
	m.Close()

	code, out, errs := admin("rotate-master-key")
	if code != 0 || !strings.Contains(errs, "continuing the rotation") || !strings.Contains(out, "vault\t3 re-wrapped\t1 already under the new key") {
		t.Fatalf("rotate-master-key: %d %q %s", code, out, errs)
	}
	now, err := keyring.Load(filepath.Join(dir, "master.key"))
	if err != nil || !now.Equal(next) {
		t.Fatalf("master.key is not the next key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key.next")); !os.IsNotExist(err) {
		t.Errorf("master.key.next left behind: %v", err)
	}
	if code, out, errs := admin("list-orgs"); code != 0 || !strings.Contains(out, "Daily Planet") {
		t.Fatalf("list-orgs with the new key: %d %q %s", code, out, errs)
	}
	t.Setenv("CLEANROOM_MASTER_KEY", old.String())
	if code, _, errs := admin("list-orgs"); code == 0 || !strings.Contains(errs, "not this deployment's") {
		t.Fatalf("the old key still opens the deployment: %d %s", code, errs)
	}
}

// TestRotateMasterKeyFromFile: with --master-key-file the command needs the new key in a file of
// its own, and afterwards only that file opens the deployment.
func TestRotateMasterKeyFromFile(t *testing.T) {
	dir, keys := t.TempDir(), t.TempDir()
	oldPath, newPath := filepath.Join(keys, "old"), filepath.Join(keys, "new")
	if err := keyring.Generate().WriteFile(oldPath); err != nil {
		t.Fatal(err)
	}
	if err := keyring.Generate().WriteFile(newPath); err != nil {
		t.Fatal(err)
	}
	with := func(key string, args ...string) (int, string, string) {
		return run(t, "", append(append([]string{"admin"}, args...), "--data", dir, "--log-level", "error", "--master-key-file", key)...)
	}
	code, id, errs := with(oldPath, "create-org", "--name", "Daily Planet", "--kind", "publisher")
	if code != 0 {
		t.Fatalf("create-org: %s", errs)
	}
	if code, _, errs := with(oldPath, "enable-clean-room", "--org", id); code != 0 {
		t.Fatalf("enable-clean-room: %s", errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); !os.IsNotExist(err) {
		t.Fatalf("a key was generated in the data directory beside --master-key-file: %v", err)
	}
	// A worker holding a periodic task's lease stops the rotation.
	m := app.NewMain()
	m.Config.DataDir, m.Config.MasterKeyFile, m.Logger = dir, oldPath, slog.New(slog.DiscardHandler)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := m.Store.TakeLease(context.Background(), "cohort-refresh", "worker-1", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := with(oldPath, "rotate-master-key", "--new-master-key-file", newPath); code == 0 || !strings.Contains(errs, "a worker is running") {
		t.Fatalf("rotation beside a running worker: %d %s", code, errs)
	}
	if err := m.Store.ReleaseLease(context.Background(), "cohort-refresh", "worker-1"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if code, _, errs := with(oldPath, "rotate-master-key"); code == 0 || !strings.Contains(errs, "--new-master-key-file") {
		t.Fatalf("rotation without the new key: %d %s", code, errs)
	}
	if code, _, errs := with(oldPath, "rotate-master-key", "--new-master-key-file", newPath); code != 0 {
		t.Fatalf("rotate-master-key: %s", errs)
	}
	if code, _, errs := with(newPath, "list-orgs"); code != 0 {
		t.Fatalf("the new key: %s", errs)
	}
	if code, _, errs := with(oldPath, "list-orgs"); code == 0 || !strings.Contains(errs, "not this deployment's") {
		t.Fatalf("the old key: %d %s", code, errs)
	}
	if code, _, errs := with(filepath.Join(keys, "missing"), "list-orgs"); code == 0 || !strings.Contains(errs, "--master-key-file") {
		t.Fatalf("a missing key file: %d %s", code, errs)
	}
}
