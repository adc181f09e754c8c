package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Config is the configuration of a cleanroom process. Every field has a flag and a CLEANROOM_*
// environment twin (flag --data-dir <-> CLEANROOM_DATA_DIR); a flag given on the command line wins.
type Config struct {
	// DataDir holds the SQLite database, the blob area and the master key file.
	DataDir string
	// Database is a postgres:// URL to keep the metadata on PostgreSQL; empty for SQLite in DataDir.
	Database string
	// Addr is the HTTP listen address.
	Addr string
	// MetricsAddr is the listen address of the Prometheus metrics (GET /metrics); empty serves
	// none. The metrics show every tenant's activity, so they never share the public port.
	MetricsAddr string
	// MasterKey, from CLEANROOM_MASTER_KEY only (never a flag, so it stays out of process lists),
	// overrides the key file.
	MasterKey string
	// TLSCert and TLSKey, when both set, make the server speak HTTPS.
	TLSCert, TLSKey string
	// SecureCookies marks session cookies Secure (behind a TLS-terminating proxy).
	SecureCookies bool
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For names the client.
	TrustedProxies []string
	// Workers is the number of background jobs run at once; JobLease how long a job stays
	// leased to a worker that stopped reporting (then another worker takes it over).
	Workers  int
	JobLease time.Duration
	// MaxBodyBytes limits JSON request bodies; MaxUploadBytes a whole uploaded file.
	MaxBodyBytes   int64
	MaxUploadBytes int64
	// MaxIdentifierTypes is how many identifier types each publisher may sync.
	MaxIdentifierTypes int
	// ActivationMinimum is the fewest users a cohort is served with; PrivacyThreshold the
	// smallest count shown to the other party.
	ActivationMinimum, PrivacyThreshold int
	// CohortRefresh is how often cohorts are checked for changed inputs (new versions, grants
	// ended, erasures); CacheVersions how many decrypted versions builds keep in memory.
	CohortRefresh time.Duration
	CacheVersions int
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel, LogFormat string
}

// defaultConfig returns the embedded default: everything in ./cleanroom-data.
func defaultConfig() Config {
	return Config{
		DataDir: "cleanroom-data", Addr: "127.0.0.1:8080", Workers: 2, JobLease: time.Minute, MaxBodyBytes: 1 << 20, MaxUploadBytes: 20 << 30, MaxIdentifierTypes: 5,
		ActivationMinimum: 100, PrivacyThreshold: 100, CohortRefresh: time.Minute, CacheVersions: 4,
		ShutdownTimeout: 30 * time.Second, LogLevel: "info", LogFormat: "text",
	}
}

// storageFlags registers the flags that say where the data is; every command that opens the
// store takes them.
func (c *Config) storageFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (SQLite database, blobs, master key)")
	fs.StringVar(&c.Database, "database", c.Database, "PostgreSQL URL for the metadata (default: SQLite in the data directory)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
}

// serverFlags registers the flags of a serving process.
func (c *Config) serverFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "listen address of the Prometheus metrics (GET /metrics), e.g. 127.0.0.1:9090; empty serves none")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (PEM); with --tls-key serves HTTPS")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key file (PEM)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", c.SecureCookies, "mark session cookies Secure (set when a proxy terminates TLS)")
	fs.StringSliceVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "CIDRs of reverse proxies whose X-Forwarded-For names the client (comma-separated)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "background jobs run at once")
	fs.DurationVar(&c.JobLease, "job-lease", c.JobLease, "how long a job stays with a worker that stopped reporting before another takes it over")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest JSON request body accepted")
	fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", c.MaxUploadBytes, "largest file accepted by an upload")
	fs.IntVar(&c.MaxIdentifierTypes, "max-identifier-types", c.MaxIdentifierTypes, "identifier types each publisher may sync")
	fs.IntVar(&c.ActivationMinimum, "activation-minimum", c.ActivationMinimum, "fewest users a cohort needs to be served")
	fs.IntVar(&c.PrivacyThreshold, "privacy-threshold", c.PrivacyThreshold, "smallest count shown to the other party; smaller ones are withheld")
	fs.DurationVar(&c.CohortRefresh, "cohort-refresh", c.CohortRefresh, "how often cohorts are checked for changed inputs and rebuilt")
	fs.IntVar(&c.CacheVersions, "cache-versions", c.CacheVersions, "decrypted data versions kept in memory between cohort builds")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful shutdown waits for requests and jobs")
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

// sqlitePath is where the SQLite database lives in the data directory.
func (c *Config) sqlitePath() string { return filepath.Join(c.DataDir, "cleanroom.db") }

// keyPath is where the generated master key lives.
func (c *Config) keyPath() string { return filepath.Join(c.DataDir, "master.key") }

// blobDir is the local blob area.
func (c *Config) blobDir() string { return filepath.Join(c.DataDir, "blobs") }
