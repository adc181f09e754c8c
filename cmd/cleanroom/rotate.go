package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/keyring"
)

// rotateMasterKeyCommand re-wraps every data key under a new master key (app.RotateMasterKey).
func (c *cli) rotateMasterKeyCommand(run runner) *cobra.Command {
	var newKeyFile string
	var force bool
	cmd := &cobra.Command{
		Use:   "rotate-master-key",
		Short: "Re-wrap every data key under a new master key (stop the deployment first)",
		Long: `Re-wrap every data key (org vaults, uploads, versions, cohorts' member files, bucket
imports' secrets, the edge's snapshot keys and its replicas' delivery records and active users)
under a new master key, without rewriting the bulk files. Fingerprints, user keys
and privacy seeds do not change: they derive from a root the new key keeps.

Stop every serve and edge process first. With the data directory's master.key, the new key is
written beside it (master.key.next), everything is re-wrapped, then master.key is replaced; with
CLEANROOM_MASTER_KEY or --master-key-file, put the new key in a file first (--new-master-key-file),
and point the deployment at it afterwards. Stopped half-way (a crash), the same command run again
finishes the job. Back up the new key before starting the deployment again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(func(ctx context.Context, m *app.Main) error {
				if !force {
					held, err := m.Store.ListLeases(ctx, time.Now())
					if err != nil {
						return err
					}
					if len(held) > 0 {
						return fmt.Errorf("a worker is running (it holds %s until %s): stop every serve and edge process first, or wait for a stopped one's lease to expire; --force skips this check",
							held[0].Name, held[0].ExpiresAt.Format(time.RFC3339))
					}
				}
				return c.rotateMasterKey(ctx, m, newKeyFile)
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rotate even though a worker seems to be running (it holds a periodic task's lease)")
	cmd.Flags().StringVar(&newKeyFile, "new-master-key-file", "", "file holding the new master key (needed when the key comes from CLEANROOM_MASTER_KEY or --master-key-file)")
	return cmd
}

func (c *cli) rotateMasterKey(ctx context.Context, m *app.Main, newKeyFile string) error {
	cfg := &m.Config
	dataDirKey := cfg.MasterKey == "" && cfg.MasterKeyFile == ""
	pending, err := m.RotationPending(ctx)
	if err != nil {
		return err
	}
	var next *keyring.Master
	nextPath := cfg.KeyPath() + ".next"
	switch {
	case newKeyFile != "":
		if next, err = keyring.Load(newKeyFile); err != nil {
			return fmt.Errorf("--new-master-key-file: %w", err)
		}
	case !dataDirKey:
		if !pending {
			return errors.New("the master key comes from CLEANROOM_MASTER_KEY or --master-key-file: write a new key (e.g. `head -c 32 /dev/urandom | base64`) to a file of mode 0600 and give it with --new-master-key-file")
		}
		next = m.Keys // a rotation to this key was begun: finish it
	default:
		next, err = keyring.Load(nextPath)
		switch {
		case err == nil:
			fmt.Fprintf(c.stderr, "continuing the rotation to the key in %s\n", nextPath)
		case errors.Is(err, fs.ErrNotExist) && pending:
			next = m.Keys // master.key was replaced already: finish
		case errors.Is(err, fs.ErrNotExist):
			next = keyring.Generate()
			if err := next.WriteFile(nextPath); err != nil {
				return err
			}
		default:
			return err
		}
	}
	if next.ID() != m.Keys.ID() {
		rep, err := m.RotateMasterKey(ctx, next, 0)
		if err != nil {
			return err
		}
		kinds := make([]string, 0, len(rep.Rewrapped)+len(rep.Current))
		for k := range rep.Rewrapped {
			kinds = append(kinds, k)
		}
		for k := range rep.Current {
			if _, ok := rep.Rewrapped[k]; !ok {
				kinds = append(kinds, k)
			}
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(c.stdout, "%s\t%d re-wrapped\t%d already under the new key\n", k, rep.Rewrapped[k], rep.Current[k])
		}
		if dataDirKey && newKeyFile == "" {
			if err := os.Rename(nextPath, cfg.KeyPath()); err != nil {
				return fmt.Errorf("switch to the new key: %w", err)
			}
			if d, err := os.Open(filepath.Dir(cfg.KeyPath())); err == nil {
				d.Sync()
				d.Close()
			}
		}
	}
	if err := m.FinishRotation(ctx, next); err != nil {
		return err
	}
	switch {
	case dataDirKey && newKeyFile == "":
		fmt.Fprintf(c.stderr, "done: %s holds the new master key (ID %s); back it up, then start the deployment\n", cfg.KeyPath(), next.ID())
	default:
		fmt.Fprintf(c.stderr, "done: every key is wrapped by the new master key (ID %s); start the deployment with it (CLEANROOM_MASTER_KEY or --master-key-file) and back it up\n", next.ID())
	}
	return nil
}
