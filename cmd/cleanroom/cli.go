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

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "(devel)"
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
	var e *cleanroom.Error
	if errors.As(err, &e) {
		line := e.Message
		if h, ok := e.Details["hint"].(string); ok {
			line += " " + h
		}
		return line
	}
	return err.Error()
}

// Execute runs the CLI with args and returns the process exit code.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "cleanroom:", errorLine(err))
		return exitCode(err)
	}
	return 0
}

// cli carries the process's streams into the commands.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "cleanroom",
		Short:         "An open-source data clean room for publishers and advertisers",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return applyEnv(cmd, os.Getenv)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(c.serveCommand(), c.demoCommand(), c.adminCommand(), c.genCommand(), c.prepareCommand(), c.uploadCommand(), c.versionCommand())
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
		Long: `Serve the API (/v1), the dashboard (/), health (/healthz, /readyz) and metrics (/metrics),
and run background jobs. With no flags everything lives in ./cleanroom-data: a SQLite database, the
blob area and a master key generated on first start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m.Config.MasterKey = os.Getenv("CLEANROOM_MASTER_KEY")
			return c.serve(m, nil)
		},
	}
	storageFlags(cmd.Flags(), &m.Config)
	serverFlags(cmd.Flags(), &m.Config)
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
