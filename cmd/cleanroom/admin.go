package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
)

// adminCommand groups the scriptable operator tasks. They open the data directory (or the
// PostgreSQL database) directly, so they work with or without a running server, and each records
// an audit entry marked as coming from the CLI.
func (c *cli) adminCommand() *cobra.Command {
	cfg := app.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operator tasks: bootstrap accounts, organizations and tokens",
		Long: `Operator tasks for scripts. Each prints only its result on stdout (an ID, a token, a
password), so it can be captured: TOKEN=$(cleanroom admin create-token --email ops@example.com).`,
	}
	storageFlags(cmd.PersistentFlags(), &cfg)
	// run opens the store, runs f, and closes the store.
	run := func(f func(ctx context.Context, m *app.Main) error) error {
		m := &app.Main{Config: cfg}
		m.Config.MasterKey = os.Getenv("CLEANROOM_MASTER_KEY")
		l, err := app.NewLogger(cfg, c.stderr)
		if err != nil {
			return err
		}
		m.Logger = l
		ctx := context.Background()
		if err := m.Open(ctx); err != nil {
			m.Close()
			return err
		}
		defer m.Close()
		return f(ctx, m)
	}
	cmd.AddCommand(
		c.createOperatorCommand(run),
		c.createOrgCommand(run),
		c.listOrgsCommand(run),
		c.addUserCommand(run),
		c.createTokenCommand(run),
		c.enableCleanRoomCommand(run),
		c.recordDPACommand(run),
		c.rotateMasterKeyCommand(run),
	)
	return cmd
}

type runner func(func(ctx context.Context, m *app.Main) error) error

// auditCLI records an operator action taken through the CLI.
func auditCLI(ctx context.Context, m *app.Main, action, orgID, targetType, targetID string) error {
	return m.Store.AppendAudit(ctx, &cleanroom.AuditEntry{
		Time: cleanroom.UTC(time.Now()), Action: action, OrgID: orgID, TargetType: targetType, TargetID: targetID,
		Details: map[string]any{"via": "cli"},
	})
}

// password returns the password read from stdin when fromStdin, else a new random one, which
// generated reports so it can be printed.
func (c *cli) password(fromStdin bool) (pw string, generated bool, err error) {
	if fromStdin {
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", false, fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), false, nil
	}
	b := make([]byte, 15)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b)), true, nil
}

func (c *cli) createOperatorCommand(run runner) *cobra.Command {
	var email, name string
	var stdinPw bool
	cmd := &cobra.Command{
		Use:   "create-operator",
		Short: "Create an operator account (prints a generated password unless --password-stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, generated, err := c.password(stdinPw)
			if err != nil {
				return err
			}
			return run(func(ctx context.Context, m *app.Main) error {
				u, err := m.Accounts.CreateOperator(ctx, email, name, pw)
				if err != nil {
					return err
				}
				if err := auditCLI(ctx, m, "operator.create", "", "user", u.ID); err != nil {
					return err
				}
				if generated {
					fmt.Fprintln(c.stdout, pw)
				}
				fmt.Fprintf(c.stderr, "created operator %s (%s)\n", u.Email, u.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email address (the login)")
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().BoolVar(&stdinPw, "password-stdin", false, "read the password from the first line of stdin")
	cmd.MarkFlagRequired("email")
	return cmd
}

func (c *cli) createOrgCommand(run runner) *cobra.Command {
	var name, kind string
	cmd := &cobra.Command{
		Use:   "create-org",
		Short: "Create an organization and print its ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(func(ctx context.Context, m *app.Main) error {
				o, err := m.Accounts.CreateOrg(ctx, name, cleanroom.OrgKind(kind))
				if err != nil {
					return err
				}
				if err := auditCLI(ctx, m, "org.create", o.ID, "org", o.ID); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, o.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "organization name")
	cmd.Flags().StringVar(&kind, "kind", "", "publisher or advertiser")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("kind")
	return cmd
}

func (c *cli) listOrgsCommand(run runner) *cobra.Command {
	return &cobra.Command{
		Use:   "list-orgs",
		Short: "List organizations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(func(ctx context.Context, m *app.Main) error {
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tKIND\tNAME\tCLEAN ROOM\tDPA")
				page := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
				for {
					orgs, next, err := m.Store.ListOrgs(ctx, page)
					if err != nil {
						return err
					}
					for _, o := range orgs {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.ID, o.Kind, o.Name, dateOrDash(o.CleanRoomEnabledAt), dateOrDash(o.DPASignedAt))
					}
					if next == "" {
						return tw.Flush()
					}
					page.After = next
				}
			})
		},
	}
}

func dateOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.DateOnly)
}

func (c *cli) addUserCommand(run runner) *cobra.Command {
	var orgID, email, name, role string
	var stdinPw bool
	cmd := &cobra.Command{
		Use:   "add-user",
		Short: "Add a user to an organization (creating the account; prints a generated password unless --password-stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := cleanroom.ParseID("organization ID", orgID)
			if err != nil {
				return err
			}
			pw, generated, err := c.password(stdinPw)
			if err != nil {
				return err
			}
			return run(func(ctx context.Context, m *app.Main) error {
				mem, created, err := m.Accounts.AddMember(ctx, id, accounts.NewUser{Email: email, Name: name, Password: pw, Role: cleanroom.Role(role), AttachExisting: true})
				if err != nil {
					return err
				}
				if err := auditCLI(ctx, m, "user.add", id, "user", mem.ID); err != nil {
					return err
				}
				if generated && created {
					fmt.Fprintln(c.stdout, pw)
				}
				fmt.Fprintf(c.stderr, "added %s to %s as %s\n", mem.Email, id, mem.Role)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&orgID, "org", "", "organization ID")
	cmd.Flags().StringVar(&email, "email", "", "email address (the login)")
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringVar(&role, "role", "admin", "admin, member or viewer")
	cmd.Flags().BoolVar(&stdinPw, "password-stdin", false, "read the password from the first line of stdin")
	cmd.MarkFlagRequired("org")
	cmd.MarkFlagRequired("email")
	return cmd
}

func (c *cli) createTokenCommand(run runner) *cobra.Command {
	var orgID, email, name string
	var days int
	cmd := &cobra.Command{
		Use:   "create-token",
		Short: "Create an API token for an account and print it",
		Long: `Create an API token for the account with --email, acting in --org (an operator's token may
omit --org and then reaches the /v1/admin routes). The token is printed once; only its hash is kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if orgID != "" {
				var err error
				if orgID, err = cleanroom.ParseID("organization ID", orgID); err != nil {
					return err
				}
			}
			return run(func(ctx context.Context, m *app.Main) error {
				addr, err := cleanroom.NormalizeEmail(email)
				if err != nil {
					return err
				}
				u, err := m.Store.FindUserByEmail(ctx, addr)
				if err != nil {
					return err
				}
				if orgID == "" && !u.Operator {
					ms, err := m.Store.ListMemberships(ctx, u.ID)
					if err != nil {
						return err
					}
					if len(ms) != 1 {
						return cleanroom.Errorf(cleanroom.EINVALID, "%s belongs to %d organizations.", addr, len(ms)).Hint("Pass --org with the organization the token acts in.")
					}
					orgID = ms[0].OrgID
				}
				secret, t, err := m.Accounts.IssueToken(ctx, u.ID, orgID, name, time.Duration(days)*24*time.Hour)
				if err != nil {
					return err
				}
				if err := auditCLI(ctx, m, "token.create", orgID, "token", t.ID); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, secret)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the account's email")
	cmd.Flags().StringVar(&orgID, "org", "", "organization the token acts in")
	cmd.Flags().StringVar(&name, "name", "cli", "token name")
	cmd.Flags().IntVar(&days, "expires-in-days", 0, "lifetime in days (0: no expiry)")
	cmd.MarkFlagRequired("email")
	return cmd
}

func (c *cli) enableCleanRoomCommand(run runner) *cobra.Command {
	var orgID string
	cmd := &cobra.Command{
		Use:   "enable-clean-room",
		Short: "Enable the clean room for an organization (creates its vault; for a publisher also its demand-side workspace, whose ID is printed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := cleanroom.ParseID("organization ID", orgID)
			if err != nil {
				return err
			}
			return run(func(ctx context.Context, m *app.Main) error {
				o, err := m.Accounts.EnableCleanRoom(ctx, id)
				if err != nil {
					return err
				}
				if err := auditCLI(ctx, m, "org.clean_room.enable", id, "org", id); err != nil {
					return err
				}
				if o.DemandSideID != "" {
					fmt.Fprintln(c.stdout, o.DemandSideID)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&orgID, "org", "", "organization ID")
	cmd.MarkFlagRequired("org")
	return cmd
}

func (c *cli) recordDPACommand(run runner) *cobra.Command {
	var orgID, signedAt string
	cmd := &cobra.Command{
		Use:   "record-dpa",
		Short: "Record that an organization signed the data processing agreement",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := cleanroom.ParseID("organization ID", orgID)
			if err != nil {
				return err
			}
			var at time.Time
			if signedAt != "" {
				if at, err = time.Parse(time.RFC3339, signedAt); err != nil {
					if at, err = time.Parse(time.DateOnly, signedAt); err != nil {
						return cleanroom.Errorf(cleanroom.EINVALID, "--signed-at %q is not a date.", signedAt).Hint("Use 2026-11-28 or 2026-11-28T10:00:00Z.")
					}
				}
			}
			return run(func(ctx context.Context, m *app.Main) error {
				if _, err := m.Accounts.RecordDPA(ctx, id, at); err != nil {
					return err
				}
				return auditCLI(ctx, m, "org.dpa.record", id, "org", id)
			})
		},
	}
	cmd.Flags().StringVar(&orgID, "org", "", "organization ID")
	cmd.Flags().StringVar(&signedAt, "signed-at", "", "when it was signed (default now)")
	cmd.MarkFlagRequired("org")
	return cmd
}
