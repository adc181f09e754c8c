package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cleanroom-oss/cleanroom/app"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// storageFlags registers the flags that say where the data is; every command that opens the
// store takes them.
func storageFlags(fs *pflag.FlagSet, c *app.Config) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (SQLite database, blobs, master key)")
	fs.StringVar(&c.Database, "database", c.Database, "PostgreSQL URL for the metadata (default: SQLite in the data directory)")
	blobsFlag(fs, c)
	fs.StringVar(&c.MasterKeyFile, "master-key-file", c.MasterKeyFile, "file holding the master key, e.g. on a secrets mount (default: the data directory's master.key, generated on first start; CLEANROOM_MASTER_KEY wins)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
}

// blobsFlag registers --blobs, where the bulk files are; serve, the admin commands and the edge
// take it.
func blobsFlag(fs *pflag.FlagSet, c *app.Config) {
	fs.StringVar(&c.Blobs, "blobs", c.Blobs, "s3://bucket/prefix to keep the bulk files in an S3-compatible bucket (endpoint, region, credentials from AWS_* variables); default: <data>/blobs")
}

// serverFlags registers the flags of a serving process.
func serverFlags(fs *pflag.FlagSet, c *app.Config) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address")
	fs.StringVar(&c.EdgeAddr, "edge-addr", c.EdgeAddr, "also serve the edge's routes on this address with the edge's own HTTP loop (as `cleanroom edge` does), e.g. 127.0.0.1:8081; empty serves them under /edge on --addr only")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "listen address of the Prometheus metrics (GET /metrics), e.g. 127.0.0.1:9090; empty serves none")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (PEM); with --tls-key serves HTTPS")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key file (PEM)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", c.SecureCookies, "mark session cookies Secure (set when a proxy terminates TLS)")
	fs.StringSliceVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "CIDRs of reverse proxies whose X-Forwarded-For names the client (comma-separated)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "background jobs run at once")
	fs.DurationVar(&c.JobLease, "job-lease", c.JobLease, "how long a job stays with a worker that stopped reporting before another takes it over")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest JSON request body accepted")
	fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", c.MaxUploadBytes, "largest file accepted by an upload")
	fs.Int64Var(&c.MaxFileBytes, rows.FlagMaxBytes, c.MaxFileBytes, "most bytes an uploaded file may hold once decompressed")
	fs.Int64Var(&c.MaxFileRows, rows.FlagMaxRows, c.MaxFileRows, "most lines an uploaded file may have")
	fs.Int64Var(&c.IngestMemory, "ingest-memory", c.IngestMemory, "memory in bytes for sorting one advertiser file's rows; beyond it they are sorted on disk")
	fs.IntVar(&c.MaxIdentifierTypes, "max-identifier-types", c.MaxIdentifierTypes, "identifier types each publisher may sync")
	fs.IntVar(&c.ActivationMinimum, "activation-minimum", c.ActivationMinimum, "fewest users a cohort needs to be served")
	fs.StringVar(&c.ORTB2DataName, "ortb2-data-name", c.ORTB2DataName, "the name of the OpenRTB user.data entry the edge answers for Prebid (your domain as the data provider)")
	fs.IntVar(&c.ORTB2Segtax, "ortb2-segtax", c.ORTB2Segtax, "the ext.segtax of that user.data entry (0: no ext)")
	fs.IntVar(&c.PrivacyThreshold, "privacy-threshold", c.PrivacyThreshold, "smallest count shown to the other party (the floor of k; parties may set more per connection)")
	fs.StringVar(&c.PrivacyEpsilon, "privacy-epsilon", c.PrivacyEpsilon, "largest epsilon one question may spend (parties may set less per connection)")
	fs.StringVar(&c.PrivacyBudget, "privacy-budget", c.PrivacyBudget, "largest epsilon budget of a party per connection and period")
	fs.StringVar(&c.PrivacyPeriod, "privacy-period", c.PrivacyPeriod, "shortest budget period: day, week or month")
	fs.StringVar(&c.PrivacyNoise, "privacy-noise", c.PrivacyNoise, "noise of cross-party counts: laplace, gaussian or none (threshold only)")
	fs.Int64Var(&c.PrivacyInputMinimum, "privacy-input-minimum", c.PrivacyInputMinimum, "fewest identifier rows a data source needs to be used in a cross-party count (0: the threshold)")
	fs.DurationVar(&c.CohortRefresh, "cohort-refresh", c.CohortRefresh, "how often cohorts are checked for changed inputs and rebuilt")
	edgeFlags(fs, c)
	fs.BoolVar(&c.ImportAllowPrivate, "import-allow-private", c.ImportAllowPrivate, "let bucket imports connect to loopback and private addresses (a bucket server in your own network)")
	fs.BoolVar(&c.ImportAllowHTTP, "import-allow-http", c.ImportAllowHTTP, "let bucket imports use plain http endpoints")
	fs.IntVar(&c.CacheVersions, "cache-versions", c.CacheVersions, "decrypted data versions kept in memory between cohort builds")
	fs.DurationVar(&c.PeriodicLease, "periodic-lease", c.PeriodicLease, "how long a worker holds a periodic task (cohort refresh, edge publishing, session sweep) without renewing it before another worker takes it over")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful shutdown waits for requests and jobs")
}

// edgeFlags registers the flags of the edge, which serve and edge share.
func edgeFlags(fs *pflag.FlagSet, c *app.Config) {
	fs.DurationVar(&c.EdgeRefresh, "edge-refresh", c.EdgeRefresh, "how often edge snapshots are checked for changed inputs, published and loaded")
	fs.DurationVar(&c.EdgeCacheMaxAge, "edge-cache-max-age", c.EdgeCacheMaxAge, "how long a browser may keep a targeting answer (private cache)")
	fs.StringVar(&c.Redis, "redis", c.Redis, "redis://host:port/db: frequency counters shared by every edge replica in Redis (default: this process's counter files)")
	fs.StringVar(&c.EdgeID, "edge-id", c.EdgeID, "this edge replica's name among the edges of one blob store (default: host name and a digest of the counter directory)")
	fs.DurationVar(&c.RedisOutageGrace, "redis-outage-grace", c.RedisOutageGrace, "how long Redis may be unreachable before capped cohorts are withheld from every user (0: at once)")
	fs.IntVar(&c.EdgeMaxCounters, "edge-max-counters", c.EdgeMaxCounters, "frequency counters an edge keeps per publisher (about 64 bytes each); beyond it the oldest windows' are dropped")
	fs.IntVar(&c.EdgeMaxUsers, "edge-max-users", c.EdgeMaxUsers, "per-user entries an edge keeps per publisher: last-seen slots (12 bytes each; twice the audience, up to this) and delivery reach entries")
}

// EnvName returns the environment twin of a flag: --max-body-bytes <-> CLEANROOM_MAX_BODY_BYTES.
func EnvName(flag string) string {
	return "CLEANROOM_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of cmd not given on the command line from its environment twin.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	apply := func(f *pflag.Flag) {
		if f.Changed || err != nil || f.Name == "help" {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", EnvName(f.Name), v, e)
			}
		}
	}
	cmd.Flags().VisitAll(apply)
	cmd.InheritedFlags().VisitAll(apply)
	return err
}
