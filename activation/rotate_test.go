package activation_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/pipeline"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// TestMasterKeyRotation rotates the master key of a deployment with an audience, an advertiser's
// version, a served cohort and a published snapshot, stopping half-way once (a crash) and
// running again. Afterwards the new key opens every key and the deployment serves the same codes
// to the same users (the user key, derived from the root, did not change) and builds and
// publishes again (versions, member files and snapshots open); the old key opens nothing, not
// even the deployment.
func TestMasterKeyRotation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 1500)
	pubAdmin := cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin)
	advMember := cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember)
	co := w.cohort(advMember, "Acme - CRM", w.conn, w.ds)
	code := co.Targets[0].Code
	_, err := w.m.Activation.PutSettings(ctx, pubAdmin, cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crx"})
	must(t, err)
	_, err = w.m.Activation.SetSwitches(ctx, pubAdmin, co.ID, w.conn, cleanroom.ActivationSwitches{Direct: true})
	must(t, err)
	secret := "bucket-secret-key"
	_, err = w.m.Imports.Put(ctx, advMember, imports.DataSource(w.ds), imports.Settings{Endpoint: "https://storage.example.com",
		Bucket: "acme-crm", Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: &secret})
	must(t, err)
	w.waitFor("the code to be served", func() bool { return w.servedUsers(code) > 0 })
	served := w.servedUsers(code)
	uid := w.member(code, nil)
	userKey := w.m.Keys.Derive(pipeline.UserKeyPurpose)
	dir := w.m.Config.DataDir
	must(t, w.m.Close()) // the deployment is stopped for the rotation

	open := func(key string) (*app.Main, error) {
		m := app.NewMain()
		m.Config.DataDir, m.Config.MasterKey, m.Config.Addr = dir, key, "127.0.0.1:0"
		m.Config.EdgeRefresh, m.Config.CohortRefresh = 50*time.Millisecond, 100*time.Millisecond
		m.Logger = slog.New(slog.DiscardHandler)
		err := m.Open(ctx)
		if err != nil {
			m.Close()
			return nil, err
		}
		t.Cleanup(func() { m.Close() })
		return m, nil
	}
	oldKey, err := keyring.Load(filepath.Join(dir, "master.key"))
	must(t, err)
	next := keyring.Generate()

	rot, err := open("")
	must(t, err)
	rep, err := rot.RotateMasterKey(ctx, next, 3)
	must(t, err)
	if rep.Done {
		t.Fatalf("a rotation limited to 3 keys is done: %+v", rep)
	}
	// Half-way (as after a crash) both keys open the deployment.
	for _, k := range []*keyring.Master{oldKey, next} {
		m, err := open(k.String())
		must(t, err)
		must(t, m.Close())
	}
	rep, err = rot.RotateMasterKey(ctx, next, 0)
	must(t, err)
	if !rep.Done || rep.Rewrapped["manifest"] != 1 || rep.Current[cleanroom.KeyVault]+rep.Current[cleanroom.KeyUpload] == 0 {
		t.Fatalf("the second run: %+v; want it done, the manifest re-wrapped, the first run's keys left", rep)
	}
	must(t, rot.FinishRotation(ctx, next))

	// Every key the store holds opens with the new key and not the old one.
	labels := map[string]func(string) string{
		cleanroom.KeyVault: accounts.VaultKeyLabel, cleanroom.KeyUpload: uploads.KeyLabel, cleanroom.KeyVersion: versions.VersionKeyLabel,
		cleanroom.KeyCohortTarget: func(ref string) string { return versions.FileKeyLabel(versions.Cohort, ref) },
		cleanroom.KeyImportSecret: imports.SecretLabel,
	}
	for _, kind := range rot.Store.WrappedKeyKinds() {
		keys, err := rot.Store.ListWrappedKeys(ctx, kind, "", 1000)
		must(t, err)
		if len(keys) == 0 {
			t.Fatalf("no %s keys to check", kind)
		}
		for _, k := range keys {
			if got, err := next.Unwrap(k.Wrapped, labels[kind](k.Ref)); err != nil {
				t.Errorf("%s %s does not open with the new key", kind, k.Ref)
			} else if kind == cleanroom.KeyImportSecret && string(got) != secret {
				t.Errorf("the import secret re-wrapped is %q, want %q", got, secret)
			}
			if _, err := oldKey.Unwrap(k.Wrapped, labels[kind](k.Ref)); err == nil {
				t.Errorf("%s %s still opens with the old key", kind, k.Ref)
			}
		}
	}
	// Without the root record the new key would derive other purpose keys (fingerprints, the
	// user key, privacy seeds): the deployment refuses to start until it is restored.
	rc, err := rot.Blobs.Open(ctx, app.RootRecordKey)
	must(t, err)
	rootRecord, err := io.ReadAll(rc)
	rc.Close()
	must(t, err)
	must(t, rot.Blobs.Delete(ctx, app.RootRecordKey))
	must(t, rot.Close())
	if _, err := open(next.String()); err == nil || !strings.Contains(err.Error(), "this database was set up with root") {
		t.Fatalf("the new key opened the deployment without its root record: %v", err)
	}
	_, err = rot.Blobs.Put(ctx, app.RootRecordKey, bytes.NewReader(rootRecord))
	must(t, err)
	if _, err := open(oldKey.String()); err == nil || !strings.Contains(err.Error(), "not this deployment's") {
		t.Fatalf("the old key opened the deployment: %v", err)
	}

	// The deployment restarted with the new key serves the same code to the same user.
	m, err := open(next.String())
	must(t, err)
	m.Accounts.Passwords = w.m.Accounts.Passwords
	if !bytes.Equal(m.Keys.Derive(pipeline.UserKeyPurpose), userKey) {
		t.Fatal("the user key changed with the master key")
	}
	must(t, m.Serve())
	w.m = m
	w.waitFor("the snapshot to load", func() bool { return w.servedUsers(code) > 0 })
	if n := w.servedUsers(code); n != served {
		t.Errorf("after the rotation %d users are served, before %d", n, served)
	}
	if got := w.codes(uid); !has(got, code) {
		t.Errorf("after the rotation the edge answers %v for a member, want %d", got, code)
	}
	// A new cohort builds (versions open) and is published with the first (member files open).
	before, err := m.Activation.Manifest(ctx, w.pub.ID)
	must(t, err)
	co2 := w.cohort(advMember, "Acme - CRM again", w.conn, w.ds)
	_, err = m.Activation.SetSwitches(ctx, pubAdmin, co2.ID, w.conn, cleanroom.ActivationSwitches{Direct: true})
	must(t, err)
	w.waitFor("a new snapshot with both codes", func() bool {
		mf, err := m.Activation.Manifest(ctx, w.pub.ID)
		must(t, err)
		return mf.Digest != before.Digest && len(mf.Served) == 2 && w.servedUsers(co2.Targets[0].Code) > 0
	})
	if n := w.servedUsers(code); n != served {
		t.Errorf("the new snapshot serves %d users the first code, want %d", n, served)
	}
}
