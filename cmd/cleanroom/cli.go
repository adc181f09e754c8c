package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise it comes from the
// module's build information.
var version = ""

// versionString is the version `cleanroom version` and `cleanroom --version` print: the module
// version and, when the binary was built from a checkout, the VCS revision (with "+dirty" for
// uncommitted changes), from the build information.
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(len(s.Value), 12)]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return v
}

// Exit codes by error kind, so scripts can branch on them.
func exitCode(err error) int {
	switch cleanroom.ErrorCode(err) {
	case cleanroom.EINVALID:
		return 2
	case cleanroom.ENOTFOUND:
		return 3
	case cleanroom.ECONFLICT:
		return 4
	case cleanroom.EFORBIDDEN, cleanroom.EUNAUTHENTICATED:
		return 5
	case cleanroom.EUNAVAILABLE:
		return 6
	}
	return 1
}

// errorLine renders err as the CLI's one line: the user-safe message and its hint for
// classified errors, the full text for others (the CLI user is the operator).
func errorLine(err error) string {
	if _, ok := errors.AsType[*cleanroom.Error](err); ok {
		return cleanroom.ErrorText(err)
	}
	return err.Error()
}

// exitUsage is the exit code of a command line cobra cannot run (an unknown command or flag, a
// bad flag value, a missing required flag, extra arguments): invalid input.
const exitUsage = 2

// Execute runs the CLI with args and returns the process exit code. A command line that cannot
// run is answered with the problem and a line pointing to the command's --help, and exit code 2.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	root := c.rootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	switch {
	case err == nil:
		return 0
	case !c.started:
		// Cobra refused the command line before any command ran.
		fmt.Fprintln(stderr, "cleanroom:", err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintln(stderr, "cleanroom:", errorLine(err))
	return exitCode(err)
}

// cli carries the process's streams into the commands.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// started is set once cobra has accepted the command line and runs the command.
	started bool
}

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "cleanroom",
		Short:         "An open-source data clean room for publishers and advertisers",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// Cobra checks these after this hook; a missing flag is a usage error too.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return err
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return err
			}
			c.started = true
			if err := applyEnv(cmd, os.Getenv); err != nil {
				return cleanroom.Errorf(cleanroom.EINVALID, "%s", err).Wrap(err)
			}
			return nil
		},
	}
	root.SetVersionTemplate("cleanroom {{.Version}}\n")
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.AddCommand(c.serveCommand(), c.edgeCommand(), c.demoCommand(), c.adminCommand(), c.genCommand(), c.prepareCommand(), c.uploadCommand(), c.versionCommand())
	return root
}

func (c *cli) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(c.stdout, "cleanroom", versionString())
			return nil
		},
	}
}

func (c *cli) serveCommand() *cobra.Command {
	m := app.NewMain()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the API, dashboard and background jobs",
		Long: `Serve the API (/v1), the dashboard (/) and health (/healthz, /readyz), and run background
jobs; with --metrics-addr, Prometheus metrics (/metrics) on a listener of their own. With no
flags everything lives in ./cleanroom-data: a SQLite database, the blob area and a master key
generated on first start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m.Config.MasterKey = os.Getenv("CLEANROOM_MASTER_KEY")
			return c.serve(m, nil)
		},
	}
	storageFlags(cmd.Flags(), &m.Config)
	serverFlags(cmd.Flags(), &m.Config)
	cmd.Flags().StringVar(&m.Config.Role, "role", app.AllRoles, "roles of this process, comma-separated: api (/v1, dashboard), worker (jobs, periodic work), edge (/edge)")
	return cmd
}

// signalContext returns a context that ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// serve opens m (unless it is open already) and serves until SIGINT or SIGTERM, then shuts down
// gracefully. ready, if set, runs once the server listens.
func (c *cli) serve(m *app.Main, ready func()) error {
	ctx, stop := signalContext()
	defer stop()
	if m.Logger == nil {
		l, err := app.NewLogger(m.Config, c.stderr)
		if err != nil {
			return err
		}
		m.Logger = l
	}
	if m.Store == nil {
		if err := m.Open(ctx); err != nil {
			m.Close()
			return err
		}
	}
	if err := m.Serve(); err != nil {
		m.Close()
		return err
	}
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
	case <-m.Stopped():
	}
	return errors.Join(m.Close(), m.Wait())
}
