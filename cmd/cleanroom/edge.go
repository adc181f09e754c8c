package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom/app"
)

func (c *cli) edgeCommand() *cobra.Command {
	m := app.NewMain()
	m.Config.Addr = "127.0.0.1:8081"
	cmd := &cobra.Command{
		Use:   "edge",
		Short: "Serve the edge alone: cohort codes for pages, impressions for frequency caps",
		Long: `Serve only the edge (/edge/v1/{publisher_id}/targeting, /events, /tag.js) from the snapshots
that ` + "`cleanroom serve`" + ` publishes into the data directory's blob store, with no database: it
needs the data directory's blobs and master key (or CLEANROOM_MASTER_KEY, or --master-key-file).
New snapshots are loaded every --edge-refresh and, with --database, as soon as they are published
(PostgreSQL LISTEN/NOTIFY; the database is never on a request's path). Each edge process keeps
its own frequency counters (--edge-counters) unless --redis shares them between every edge in
Redis; each stores its own delivery figures under --edge-id, merged by the delivery reports.
serve runs an edge of its own under /edge.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m.Config.MasterKey = os.Getenv("CLEANROOM_MASTER_KEY")
			ctx, stop := signalContext()
			defer stop()
			l, err := app.NewLogger(m.Config, c.stderr)
			if err != nil {
				return err
			}
			m.Logger = l
			if err := m.ServeEdge(); err != nil {
				m.Close()
				return err
			}
			select {
			case <-ctx.Done():
				m.Logger.Info("shutting down")
			case <-m.Stopped():
			}
			return errors.Join(m.Close(), m.Wait())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&m.Config.DataDir, "data", m.Config.DataDir, "data directory (blobs and master key) that serve writes the snapshots to")
	blobsFlag(fs, &m.Config)
	fs.StringVar(&m.Config.MasterKeyFile, "master-key-file", m.Config.MasterKeyFile, "file holding the master key (default: the data directory's master.key; CLEANROOM_MASTER_KEY wins)")
	fs.StringVar(&m.Config.Database, "database", m.Config.Database, "PostgreSQL URL of the deployment, only to hear at once that a snapshot was published (LISTEN/NOTIFY); without it new snapshots load every --edge-refresh")
	fs.StringVar(&m.Config.LogLevel, "log-level", m.Config.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&m.Config.LogFormat, "log-format", m.Config.LogFormat, "log format: text or json")
	fs.StringVar(&m.Config.Addr, "addr", m.Config.Addr, "HTTP listen address")
	fs.StringSliceVar(&m.Config.TrustedProxies, "trusted-proxies", m.Config.TrustedProxies, "CIDRs of reverse proxies whose X-Forwarded-For names the client (comma-separated)")
	fs.StringVar(&m.Config.EdgeCounters, "edge-counters", m.Config.EdgeCounters, "directory of this edge's frequency counters (default <data>/edge-counters; give each edge process its own)")
	edgeFlags(fs, &m.Config)
	return cmd
}
