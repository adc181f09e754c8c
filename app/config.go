package app

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom/edge"

	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// Config is the configuration of a cleanroom process. Every field has a flag and a CLEANROOM_*
// environment twin (flag --data-dir <-> CLEANROOM_DATA_DIR); a flag given on the command line wins.
type Config struct {
	// DataDir holds the SQLite database, the blob area and the master key file.
	DataDir string
	// Database is a postgres:// URL to keep the metadata on PostgreSQL; empty for SQLite in DataDir.
	Database string
	// Blobs is an s3://bucket/prefix URL to keep the bulk files in an S3-compatible bucket (the
	// endpoint, region and credentials from the AWS_* environment); empty for <data>/blobs.
	Blobs string
	// Role lists the roles the process takes (api, worker, edge; comma-separated; empty: all).
	Role string
	// Addr is the HTTP listen address.
	Addr string
	// MetricsAddr is the listen address of the Prometheus metrics (GET /metrics); empty serves
	// none. The metrics show every tenant's activity, so they never share the public port.
	MetricsAddr string
	// MasterKey, from CLEANROOM_MASTER_KEY only (never a flag, so it stays out of process lists),
	// overrides the key file.
	MasterKey string
	// MasterKeyFile is a file holding the master key (a secrets mount); it must exist. Empty:
	// the data directory's master.key, generated on first start.
	MasterKeyFile string
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
	// MaxFileBytes and MaxFileRows bound what an uploaded file may hold once decompressed: its
	// bytes and its lines. IngestMemory is the memory budget of processing an advertiser file,
	// beyond which its rows are sorted on disk (in TempDir).
	MaxFileBytes, MaxFileRows int64
	IngestMemory              int64
	// MaxIdentifierTypes is how many identifier types each publisher may sync.
	MaxIdentifierTypes int
	// ActivationMinimum is the fewest users a cohort is served with; PrivacyThreshold the
	// smallest count shown to the other party.
	ActivationMinimum, PrivacyThreshold int
	// ORTB2DataName and ORTB2Segtax name the OpenRTB user.data entry of the edge's answers (the
	// provider's domain; "cleanroom" when empty) and its ext.segtax (0 leaves ext out).
	ORTB2DataName string
	ORTB2Segtax   int
	// PrivacyEpsilon is the largest ε of one question (a decimal), PrivacyBudget the largest
	// budget of a party per connection and period, PrivacyPeriod the shortest period (day, week,
	// month), PrivacyNoise the mechanism (laplace, gaussian, none), PrivacyInputMinimum the
	// fewest identifier rows a data source needs to be an input (0: the threshold). The
	// deployment's floor: parties may only be stricter (package disclosure).
	PrivacyEpsilon, PrivacyBudget, PrivacyPeriod, PrivacyNoise string
	PrivacyInputMinimum                                        int64
	// CohortRefresh is how often cohorts are checked for changed inputs (new versions, grants
	// ended, erasures); CacheVersions how many decrypted versions builds keep in memory.
	CohortRefresh time.Duration
	CacheVersions int
	// EdgeRefresh is how often publishers are checked for a new edge snapshot and the edge
	// loads the snapshots published; EdgeCacheMaxAge how long a browser keeps a targeting answer.
	EdgeRefresh, EdgeCacheMaxAge time.Duration
	// EdgeCounters is the directory of the edge's frequency counters; empty means
	// <data>/edge-counters. Each edge process needs its own.
	EdgeCounters string
	// Redis is a redis:// URL: the edge's frequency counters then live in Redis, shared by every
	// edge replica (package edgeredis); empty keeps them in EdgeCounters. RedisOutageGrace is how
	// long Redis may be unreachable before capped cohorts are withheld from everyone.
	Redis            string
	RedisOutageGrace time.Duration
	// EdgeID names this edge replica among those serving the same blob store (its delivery and
	// active-user files are its own); empty means the host name and a digest of the counter
	// directory (EdgeReplicaID), stable across restarts.
	EdgeID string
	// EdgeMaxCounters bounds each publisher's frequency counters in an edge process (its journal
	// or its view of Redis's); EdgeMaxUsers each publisher's per-user tables (last-seen days,
	// delivery entries). 0 or less: the edge's defaults.
	EdgeMaxCounters, EdgeMaxUsers int
	// EdgeAddr, when set, makes serve also answer the edge's routes on a listener of their own,
	// with the edge's own HTTP loop (as `cleanroom edge` does); /edge stays on Addr too.
	EdgeAddr string
	// ImportAllowPrivate lets imports from buckets connect to loopback and private addresses
	// (a bucket server in the deployment's own network); ImportAllowHTTP to plain http endpoints.
	ImportAllowPrivate, ImportAllowHTTP bool
	// PeriodicLease is how long a worker holds a periodic task without renewing it: how long the
	// deployment may go without the task after the worker holding it died.
	PeriodicLease time.Duration
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel, LogFormat string
}

// DefaultConfig returns the embedded default: everything in ./cleanroom-data.
func DefaultConfig() Config {
	return Config{
		DataDir: "cleanroom-data", Addr: "127.0.0.1:8080", Workers: 2, JobLease: time.Minute, MaxBodyBytes: 1 << 20, MaxUploadBytes: 20 << 30, MaxIdentifierTypes: 5,
		MaxFileBytes: rows.DefaultMaxBytes, MaxFileRows: rows.DefaultMaxRows, IngestMemory: ingest.DefaultMemoryBudget,
		ActivationMinimum: 100, PrivacyThreshold: 100, ORTB2DataName: "cleanroom",
		PrivacyEpsilon: "0.5", PrivacyBudget: "10", PrivacyPeriod: "week", PrivacyNoise: "laplace", CohortRefresh: time.Minute, CacheVersions: 4,
		EdgeRefresh: 2 * time.Second, EdgeCacheMaxAge: 60 * time.Second, RedisOutageGrace: 30 * time.Second, PeriodicLease: 30 * time.Second,
		EdgeMaxCounters: edge.DefaultMaxCounters, EdgeMaxUsers: edge.DefaultMaxLastSeen,
		ShutdownTimeout: 30 * time.Second, LogLevel: "info", LogFormat: "text",
	}
}

// SQLitePath is where the SQLite database lives in the data directory.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "cleanroom.db") }

// KeyPath is where the generated master key lives.
func (c *Config) KeyPath() string { return filepath.Join(c.DataDir, "master.key") }

// CounterDir is where the edge keeps its frequency counters' journals.
func (c *Config) CounterDir() string {
	if c.EdgeCounters != "" {
		return c.EdgeCounters
	}
	return filepath.Join(c.DataDir, "edge-counters")
}

// EdgeReplicaID returns EdgeID, or the host name and a digest of the counter directory's absolute
// path when it is empty: the same across restarts, distinct for two edges of one host.
func (c *Config) EdgeReplicaID() string {
	if c.EdgeID != "" {
		return c.EdgeID
	}
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		}
	}
	dir, err := filepath.Abs(c.CounterDir())
	if err != nil {
		dir = c.CounterDir()
	}
	sum := sha256.Sum256([]byte(dir))
	name := b.String()
	if name == "" {
		name = "edge"
	}
	return fmt.Sprintf("%.40s-%x", name, sum[:4])
}

// BlobDir is the local blob area.
func (c *Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }

// TempDir holds the temporary files of processing (rows spilled by ingest, encrypted); it is
// emptied at start.
func (c *Config) TempDir() string { return filepath.Join(c.DataDir, "tmp") }
