// Package client is a small Go client of the clean room's JSON API, used by the CLI's
// client-side commands (upload) and usable by scripts. Errors from the server come back as
// *cleanroom.Error with the server's code, message and details.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// Client calls one server with one API token.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client for the server at baseURL.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 10 * time.Minute}}
}

// Do sends a request with an optional JSON (or raw, for io.Reader) body and decodes a JSON
// response into out (when non-nil). Extra headers may be given.
func (c *Client) Do(ctx context.Context, method, path string, body any, out any, header http.Header) (*http.Response, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/octet-stream"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ctype = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if ctype != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "The server at %s did not answer: %v", c.BaseURL, err).Wrap(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res, cleanroom.Errorf(cleanroom.EUNAVAILABLE, "Reading the server's answer failed: %v", err).Wrap(err)
	}
	if res.StatusCode >= 300 {
		return res, decodeError(res.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return res, fmt.Errorf("client: decode %s %s: %w", method, path, err)
		}
	}
	return res, nil
}

// decodeError turns the API's error shape into a *cleanroom.Error.
func decodeError(status int, data []byte) error {
	var body struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		return &cleanroom.Error{Code: body.Error.Code, Message: body.Error.Message, Details: body.Error.Details}
	}
	code := cleanroom.EINTERNAL
	if status == http.StatusNotFound {
		code = cleanroom.ENOTFOUND
	}
	return cleanroom.Errorf(code, "The server answered %d: %.200s", status, data)
}

// BeginUpload opens an upload of a file to a data source.
// maxErrorRate is the share of bad rows above which the file is refused (0: the server's default).
func (c *Client) BeginUpload(ctx context.Context, dataSourceID, name string, size int64, sha256 string, maxErrorRate float64) (*cleanroom.Upload, error) {
	var u cleanroom.Upload
	_, err := c.Do(ctx, "POST", "/v1/data-sources/"+dataSourceID+"/uploads",
		map[string]any{"name": name, "size": size, "sha256": sha256, "max_error_rate": maxErrorRate}, &u, nil)
	return &u, err
}

// Upload returns an upload's state.
func (c *Client) Upload(ctx context.Context, id string) (*cleanroom.Upload, error) {
	var u cleanroom.Upload
	_, err := c.Do(ctx, "GET", "/v1/uploads/"+id, nil, &u, nil)
	return &u, err
}

// PutPart sends the part starting at offset, with its SHA-256 (hex) for the server to check.
func (c *Client) PutPart(ctx context.Context, id string, offset int64, part []byte, sha256hex string) (*cleanroom.Upload, error) {
	var u cleanroom.Upload
	h := http.Header{}
	h.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	h.Set("Upload-Part-SHA256", sha256hex)
	_, err := c.Do(ctx, "PUT", "/v1/uploads/"+id+"/content", bytes.NewReader(part), &u, h)
	return &u, err
}

// CompleteUpload asks the server to verify the file and process it.
func (c *Client) CompleteUpload(ctx context.Context, id string) (*cleanroom.Upload, error) {
	var u cleanroom.Upload
	_, err := c.Do(ctx, "POST", "/v1/uploads/"+id+"/complete", map[string]any{}, &u, nil)
	return &u, err
}

// Job returns a job's state.
func (c *Client) Job(ctx context.Context, id int64) (*cleanroom.Job, error) {
	var j cleanroom.Job
	_, err := c.Do(ctx, "GET", "/v1/jobs/"+strconv.FormatInt(id, 10), nil, &j, nil)
	return &j, err
}

// PutTaxonomy uploads a data source's taxonomy CSV.
func (c *Client) PutTaxonomy(ctx context.Context, dataSourceID string, csv io.Reader) error {
	h := http.Header{}
	h.Set("Content-Type", "text/csv")
	_, err := c.Do(ctx, "PUT", "/v1/data-sources/"+dataSourceID+"/taxonomy", csv, nil, h)
	return err
}
