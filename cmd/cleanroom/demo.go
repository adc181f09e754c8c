package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/app"
)

func (c *cli) demoCommand() *cobra.Command {
	m := app.NewMain()
	m.Config.DataDir = ""
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Create a demo deployment in a fresh data directory, serve it and print the logins",
		Long: `Create a fresh data directory (a new temporary one unless --data names an empty or missing
directory) holding an operator, a publisher with the clean room enabled (and its demand-side
workspace) and an advertiser that has signed the DPA, with a login and an API token for each; the
publisher gets a synthetic audience (200,000 users, 120 custom cohorts) and the advertiser a CRM
upload, matched against it into a matched cohort and two lookalikes. Then it serves the demo until
interrupted. A temporary data directory, master key included, is removed when the demo stops,
however it stops (Ctrl-C while seeding or serving, SIGTERM, an error); one named with --data is
kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			temporary := m.Config.DataDir == ""
			if err := prepareDemoDir(&m.Config); err != nil {
				return err
			}
			if temporary {
				defer func() { err = errors.Join(err, c.removeDemoDir(m.Config.DataDir)) }()
			}
			// Ctrl-C while seeding stops the seeding (serve then watches for its own).
			ctx, stop := signalContext()
			defer stop()
			l, err := app.NewLogger(m.Config, c.stderr)
			if err != nil {
				return err
			}
			m.Logger = l
			m.Config.MasterKey = os.Getenv("CLEANROOM_MASTER_KEY")
			err = m.Open(ctx)
			var d *demo
			if err == nil {
				d, err = seedDemo(ctx, m)
			}
			if err != nil {
				m.Close()
				if ctx.Err() != nil {
					fmt.Fprintln(c.stderr, "Interrupted while preparing the demo.")
					return nil
				}
				return err
			}
			// The default port may be taken by another program; a demo then takes a free one.
			if !cmd.Flags().Changed("addr") && os.Getenv(EnvName("addr")) == "" && !portFree(m.Config.Addr) {
				m.Config.Addr = "127.0.0.1:0"
			}
			return c.serve(m, func() { d.print(c.stdout, m) })
		},
	}
	storageFlags(cmd.Flags(), &m.Config)
	serverFlags(cmd.Flags(), &m.Config)
	return cmd
}

// removeDemoDir removes a demo's temporary data directory, master key included.
func (c *cli) removeDemoDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the demo's data directory: %w", err)
	}
	fmt.Fprintf(c.stderr, "Removed the demo's data directory %s.\n", dir)
	return nil
}

func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// prepareDemoDir picks the demo's data directory: a new temporary one, or the one given if it is
// empty or missing (a demo never touches existing data).
func prepareDemoDir(c *app.Config) error {
	if c.DataDir == "" {
		dir, err := os.MkdirTemp("", "cleanroom-demo-")
		if err != nil {
			return err
		}
		c.DataDir = dir
		return nil
	}
	entries, err := os.ReadDir(c.DataDir)
	if err == nil && len(entries) > 0 {
		return cleanroom.Errorf(cleanroom.ECONFLICT, "The demo data directory %s is not empty.", c.DataDir).
			Hint("Give a new directory with --data, or omit --data to use a temporary one.")
	}
	return nil
}

// demoLogin is one account the demo creates.
type demoLogin struct {
	Role, OrgName, OrgID, Email, Password, Token string
}

type demo struct {
	Logins []demoLogin
	// PublisherID, DemandSideID and AdvertiserID are the demo's organizations.
	PublisherID, DemandSideID, AdvertiserID string
	// TargetedUser is a demo reader the edge serves the matched cohort's code to.
	TargetedUser string
}

// seedDemo creates the demo's organizations, accounts and tokens.
func seedDemo(ctx context.Context, m *app.Main) (*demo, error) {
	acc := m.Accounts
	d := &demo{}
	pw := func() string {
		b := make([]byte, 10)
		rand.Read(b)
		return "demo-" + strings.ToLower(base32.StdEncoding.EncodeToString(b))
	}
	opPw := pw()
	op, err := acc.CreateOperator(ctx, "operator@cleanroom.example", "Demo Operator", opPw)
	if err != nil {
		return nil, err
	}
	opToken, _, err := acc.IssueToken(ctx, op.ID, "", "demo", 0)
	if err != nil {
		return nil, err
	}
	d.Logins = append(d.Logins, demoLogin{"operator", "(all)", "", op.Email, opPw, opToken})

	pub, err := acc.CreateOrg(ctx, "Daily Courier Media", cleanroom.OrgPublisher)
	if err != nil {
		return nil, err
	}
	if _, err := acc.RecordDPA(ctx, pub.ID, time.Time{}); err != nil {
		return nil, err
	}
	if pub, err = acc.EnableCleanRoom(ctx, pub.ID); err != nil {
		return nil, err
	}
	adv, err := acc.CreateOrg(ctx, "Northwind Outdoor Co.", cleanroom.OrgAdvertiser)
	if err != nil {
		return nil, err
	}
	if _, err := acc.RecordDPA(ctx, adv.ID, time.Time{}); err != nil {
		return nil, err
	}
	if adv, err = acc.EnableCleanRoom(ctx, adv.ID); err != nil {
		return nil, err
	}
	d.PublisherID, d.DemandSideID, d.AdvertiserID = pub.ID, pub.DemandSideID, adv.ID

	var pubAdminID, advAdminID string
	people := []struct {
		org         *cleanroom.Org
		email, name string
		role        cleanroom.Role
		label       string
	}{
		{pub, "adops@dailycourier.example", "Priya Ad-Ops", cleanroom.RoleAdmin, "publisher admin"},
		{pub, "analyst@dailycourier.example", "Sam Analyst", cleanroom.RoleViewer, "publisher viewer"},
		{adv, "data@northwind.example", "Alex Data", cleanroom.RoleAdmin, "advertiser admin"},
	}
	for _, p := range people {
		secret := pw()
		mem, _, err := acc.AddMember(ctx, p.org.ID, accounts.NewUser{Email: p.email, Name: p.name, Password: secret, Role: p.role})
		if err != nil {
			return nil, err
		}
		tok, _, err := acc.IssueToken(ctx, mem.ID, p.org.ID, "demo", 0)
		if err != nil {
			return nil, err
		}
		d.Logins = append(d.Logins, demoLogin{p.label, p.org.Name, p.org.ID, p.email, secret, tok})
		if p.org == pub && p.role == cleanroom.RoleAdmin {
			pubAdminID = mem.ID
		}
		if p.org == adv && p.role == cleanroom.RoleAdmin {
			advAdminID = mem.ID
		}
	}
	// The publisher's admin is an admin of its demand-side workspace too, with no step of ours:
	// the store derives it.
	connID, err := seedDemoConnections(ctx, m, d, pub, adv, pw)
	if err != nil {
		return nil, err
	}
	if err := seedDemoData(ctx, m, d, pub.ID, pubAdminID, adv.ID, advAdminID, connID); err != nil {
		return nil, fmt.Errorf("demo data: %w", err)
	}
	err = m.Store.AppendAudit(ctx, &cleanroom.AuditEntry{Time: cleanroom.UTC(time.Now()), Action: "demo.seed",
		OrgID: pub.ID, PartnerOrgID: adv.ID, Details: map[string]any{"via": "cli"}})
	return d, err
}

// print writes the demo's logins.
func (d *demo) print(w io.Writer, m *app.Main) {
	fmt.Fprintf(w, "\nClean Room demo is running at %s\nData directory: %s\n\n", m.URL(), m.Config.DataDir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHO\tORGANIZATION\tEMAIL\tPASSWORD")
	for _, l := range d.Logins {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Role, l.OrgName, l.Email, l.Password)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nAPI tokens (send as \"Authorization: Bearer <token>\"):")
	for _, l := range d.Logins {
		fmt.Fprintf(w, "  %-18s %s\n", l.Role, l.Token)
	}
	// The README's examples read the server's URL from CLEANROOM_SERVER (as cleanroom upload
	// does), so they work on whichever port the demo took.
	fmt.Fprintf(w, "\nFor the README's examples, in another shell:\n  export CLEANROOM_SERVER=%s\n  export TOKEN=%s   # the publisher admin's; pick another above\n", m.URL(), d.Logins[1].Token)
	fmt.Fprintf(w, "\nTry: curl -H \"Authorization: Bearer $TOKEN\" $CLEANROOM_SERVER/v1/org\n")
	if d.TargetedUser != "" {
		// The edge's answer for a demo reader (no token: pages call it).
		fmt.Fprintf(w, "The edge's codes for demo reader %s:\n  curl \"$CLEANROOM_SERVER/edge/v1/%s/targeting?uid=%s\"\n", d.TargetedUser, d.PublisherID, d.TargetedUser)
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}

// seedDemoConnections connects the demo publisher both ways: to the advertiser (operator-driven)
// and to its own demand-side workspace (publisher-driven), into which a second advertiser's data
// lead is invited with the limited role.
func seedDemoConnections(ctx context.Context, m *app.Main, d *demo, pub, adv *cleanroom.Org, pw func() string) (string, error) {
	svc := m.Connections
	conn, _, err := svc.CreateConnection(ctx, pub.ID, adv.ID, cleanroom.Permissions{
		StandardCohorts: true, MatchedCohorts: true, ModeledAudiences: true, Insights: true,
	})
	if err != nil {
		return "", err
	}
	if _, _, err := svc.CreateConnection(ctx, pub.ID, pub.DemandSideID, cleanroom.Permissions{
		MatchedCohorts: true, ModeledAudiences: true, Insights: true,
	}); err != nil {
		return "", err
	}
	coffee, err := m.Accounts.CreateOrg(ctx, "Harbor Coffee Roasters", cleanroom.OrgAdvertiser)
	if err != nil {
		return "", err
	}
	if _, err := m.Accounts.RecordDPA(ctx, coffee.ID, time.Time{}); err != nil {
		return "", err
	}
	if _, err := m.Accounts.EnableCleanRoom(ctx, coffee.ID); err != nil {
		return "", err
	}
	secret := pw()
	lead, _, err := m.Accounts.AddMember(ctx, coffee.ID, accounts.NewUser{Email: "crm@harborcoffee.example", Name: "Jo CRM", Password: secret, Role: cleanroom.RoleAdmin})
	if err != nil {
		return "", err
	}
	inv, err := svc.Invite(ctx, cleanroom.NewCaller(pub.DemandSideID, cleanroom.RoleAdmin), lead.Email, coffee.ID)
	if err != nil {
		return "", err
	}
	if _, _, err := m.Accounts.AcceptInvitation(ctx, cleanroom.MemberCaller(lead, coffee), inv.ID); err != nil {
		return "", err
	}
	tok, _, err := m.Accounts.IssueToken(ctx, lead.ID, pub.DemandSideID, "demo", 0)
	if err != nil {
		return "", err
	}
	d.Logins = append(d.Logins, demoLogin{"invited advertiser", pub.Name + " (demand side)", pub.DemandSideID, lead.Email, secret, tok})
	return conn.ID, nil
}
