package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/client"
)

// uploadState is what `cleanroom upload` remembers beside the file so that running the same
// command again resumes an interrupted upload instead of starting over.
type uploadState struct {
	Server       string `json:"server"`
	DataSourceID string `json:"data_source_id"`
	UploadID     string `json:"upload_id"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	ModTime      int64  `json:"mod_time"`
}

func (c *cli) uploadCommand() *cobra.Command {
	var server, token, dsID, file, taxonomy string
	var partMiB int
	var noWait bool
	var maxErrorRate float64
	cmd := &cobra.Command{
		Use:   "upload",
		Short: "Upload a prepared data file to a data source, resuming if interrupted, and follow its processing",
		Long: `Upload a prepared file (see cleanroom prepare) to a data source: the file is checksummed,
sent in parts with a progress bar, and, if the connection breaks or the command is stopped, running
the same command again resumes from the last byte the server acknowledged. Then the command follows
the server's processing to the end and prints the report. --taxonomy uploads the segment taxonomy
CSV first.

` + precheckDescription,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" || token == "" {
				return cleanroom.Errorf(cleanroom.EINVALID, "--server and --token are required.").
					Hint("Pass them, or set CLEANROOM_SERVER and CLEANROOM_TOKEN.")
			}
			id, err := cleanroom.ParseID("data source ID", dsID)
			if err != nil {
				return err
			}
			if err := checkUploadFile(file); err != nil {
				return err
			}
			cl := client.New(server, token)
			ctx, stop := signalContext()
			defer stop()
			if taxonomy != "" {
				f, err := os.Open(taxonomy)
				if err != nil {
					return err
				}
				err = cl.PutTaxonomy(ctx, id, f)
				f.Close()
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stderr, "taxonomy %s uploaded\n", taxonomy)
			}
			u, err := c.sendFile(ctx, cl, server, id, file, int64(partMiB)<<20, maxErrorRate)
			if err != nil {
				return err
			}
			if noWait {
				fmt.Fprintln(c.stdout, u.ID)
				return nil
			}
			return c.followUpload(ctx, cl, u)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "server URL, e.g. https://cleanroom.example.com (env CLEANROOM_SERVER)")
	f.StringVar(&token, "token", "", "API token (env CLEANROOM_TOKEN)")
	f.StringVar(&dsID, "data-source", "", "data source ID")
	f.StringVar(&file, "file", "", "the prepared file (TSV or CSV, optionally gzipped)")
	f.StringVar(&taxonomy, "taxonomy", "", "taxonomy CSV to upload first (segment_id,segment_name)")
	f.IntVar(&partMiB, "part-size", 8, "part size in MiB")
	f.BoolVar(&noWait, "no-wait", false, "print the upload ID and return once the file is sent")
	f.Float64Var(&maxErrorRate, "max-error-rate", 0, "share of bad rows (0 to 1) above which the server refuses the file (0: its default, 0.05)")
	cmd.MarkFlagRequired("data-source")
	cmd.MarkFlagRequired("file")
	return cmd
}

// sendFile uploads file in parts, resuming a previous attempt recorded in the state file.
func (c *cli) sendFile(ctx context.Context, cl *client.Client, server, dsID, file string, partSize int64, maxErrorRate float64) (*cleanroom.Upload, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	statePath := file + ".cleanroom-upload"
	var st uploadState
	var u *cleanroom.Upload
	if b, err := os.ReadFile(statePath); err == nil && json.Unmarshal(b, &st) == nil &&
		st.Server == server && st.DataSourceID == dsID && st.Size == fi.Size() && st.ModTime == fi.ModTime().UnixNano() {
		if u, err = cl.Upload(ctx, st.UploadID); err == nil && u.State == cleanroom.UploadOpen {
			fmt.Fprintf(c.stderr, "resuming upload %s at byte %d of %d\n", u.ID, u.Received, u.Size)
		} else {
			u = nil
		}
	}
	if u == nil {
		sum, err := c.checksum(f, fi.Size())
		if err != nil {
			return nil, err
		}
		if u, err = cl.BeginUpload(ctx, dsID, filepath.Base(file), fi.Size(), sum, maxErrorRate); err != nil {
			return nil, err
		}
		st = uploadState{Server: server, DataSourceID: dsID, UploadID: u.ID, Size: fi.Size(), SHA256: sum, ModTime: fi.ModTime().UnixNano()}
		b, _ := json.Marshal(st)
		if err := os.WriteFile(statePath, b, 0o600); err != nil {
			return nil, err
		}
	}
	bar := c.bar(u.Size, "uploading")
	bar.Set64(u.Received)
	buf := make([]byte, partSize)
	offset := u.Received
	failures := 0
	for offset < u.Size {
		n, err := f.ReadAt(buf[:min(partSize, u.Size-offset)], offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		sum := sha256.Sum256(buf[:n])
		next, err := cl.PutPart(ctx, u.ID, offset, buf[:n], hex.EncodeToString(sum[:]))
		switch {
		case err == nil:
			u, offset, failures = next, next.Received, 0
			bar.Set64(offset)
			continue
		case ctx.Err() != nil:
			return nil, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "Upload interrupted at byte %d.", offset).Hint("Run the same command again to resume.")
		case cleanroom.ErrorCode(err) == cleanroom.ECONFLICT:
			// The server has a different offset (a part arrived but its answer was lost): follow it.
			if o, ok := cleanroom.ErrorDetails(err)["offset"].(float64); ok {
				offset = int64(o)
				bar.Set64(offset)
				continue
			}
			return nil, err
		case cleanroom.ErrorCode(err) == cleanroom.EUNAVAILABLE || cleanroom.ErrorCode(err) == cleanroom.EINTERNAL:
			failures++
			if failures > 8 {
				return nil, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The upload failed %d times in a row at byte %d: %s", failures, offset, cleanroom.ErrorMessage(err)).
					Hint("Run the same command again to resume.")
			}
			wait := time.Duration(1<<min(failures, 5)) * time.Second / 2
			fmt.Fprintf(c.stderr, "\npart at byte %d failed (%s); retrying in %v\n", offset, cleanroom.ErrorMessage(err), wait)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
			if cur, err := cl.Upload(ctx, u.ID); err == nil {
				offset = cur.Received
			}
		default:
			return nil, err
		}
	}
	bar.Finish()
	fmt.Fprintln(c.stderr)
	u, err = cl.CompleteUpload(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	os.Remove(statePath)
	return u, nil
}

// checksum returns the SHA-256 of the file, with a progress bar.
func (c *cli) checksum(f *os.File, size int64) (string, error) {
	h := sha256.New()
	bar := c.bar(size, "checksum")
	if _, err := io.Copy(io.MultiWriter(h, bar), io.NewSectionReader(f, 0, size)); err != nil {
		return "", err
	}
	bar.Finish()
	fmt.Fprintln(c.stderr)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// bar returns a byte progress bar on stderr (bytes, rate, ETA).
func (c *cli) bar(total int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowCount(),
	)
}

// followUpload polls the upload until it is processed or failed, showing the job's progress,
// then prints the report.
func (c *cli) followUpload(ctx context.Context, cl *client.Client, u *cleanroom.Upload) error {
	bar := c.bar(u.Size, "processing")
	for {
		cur, err := cl.Upload(ctx, u.ID)
		if err != nil {
			return err
		}
		if p, ok := uploadProgress(cur); ok {
			bar.Set64(p)
		}
		switch cur.State {
		case cleanroom.UploadProcessed, cleanroom.UploadFailed:
			bar.Finish()
			fmt.Fprintln(c.stderr)
			printReport(c.stdout, cur)
			if cur.State == cleanroom.UploadFailed {
				return cleanroom.Errorf(cleanroom.EINVALID, "Processing failed: %s", cur.Error)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return cleanroom.Errorf(cleanroom.EUNAVAILABLE, "Stopped following; the server goes on processing upload %s.", u.ID)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// uploadProgress reads the processing progress the server reports with an upload.
func uploadProgress(u *cleanroom.Upload) (int64, bool) {
	if u.Progress == nil {
		return 0, false
	}
	return u.Progress.Done, true
}

// printReport writes a processing report for people.
func printReport(w io.Writer, u *cleanroom.Upload) {
	var rep cleanroom.UploadReport
	if len(u.Report) == 0 || json.Unmarshal(u.Report, &rep) != nil {
		fmt.Fprintf(w, "upload %s: %s %s\n", u.ID, u.State, u.Error)
		return
	}
	fmt.Fprintf(w, "upload %s: %s\n", u.ID, u.State)
	fmt.Fprintf(w, "rows read %d, accepted %d, rejected %d, duplicates merged %d\n", rep.RowsRead, rep.RowsAccepted, rep.RowsRejected, rep.Duplicates)
	printCounts(w, "rejected by reason", rep.Rejected)
	printCounts(w, "warnings", rep.Warnings)
	printCounts(w, "identifiers by type", rep.PerTag)
	printCounts(w, "identifiers by segment", rep.PerSegment)
	for i, e := range rep.FirstErrors {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more in the report (GET /v1/uploads/%s)\n", len(rep.FirstErrors)-10, u.ID)
			break
		}
		fmt.Fprintf(w, "  line %d: %s %s\n", e.Line, e.Message, e.Hint)
	}
	if u.Error != "" {
		fmt.Fprintln(w, u.Error)
	}
}

func printCounts(w io.Writer, title string, m map[string]int64) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%s:\n", title)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-24s %d\n", k, m[k])
	}
}
