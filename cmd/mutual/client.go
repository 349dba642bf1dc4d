package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// apiClient talks to a running server's HTTP API with one token. `mutual
// bench` and `mutual demo` use it: they drive the server the way any client
// would.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(base, token string, conns int) *apiClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// apiError is a problem+json answer.
type apiError struct {
	Status int    `json:"status"`
	Type   string `json:"type"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail)
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
// Any status but 2xx is returned as an *apiError.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any, header ...string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Title == "" {
			e.Title, e.Detail = http.StatusText(resp.StatusCode), strings.TrimSpace(string(data))
		}
		return e
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// tokenFrom returns the token to use: the flag's, else MUTUAL_TOKEN, else the
// admin token the first run saved in the data folder.
func tokenFrom(e *env, flagValue, dataDir string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if t := e.getenv("MUTUAL_TOKEN"); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, adminTokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no token: pass --token, set MUTUAL_TOKEN, or run where %s exists (%v)", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// clientFlags are the flags of the commands that drive a running server.
type clientFlags struct {
	url, token, dataDir *string
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		url:     fs.String("url", "http://127.0.0.1:8080", "the server's `URL`"),
		token:   fs.String("token", "", "API `TOKEN` of the admin (default: MUTUAL_TOKEN, or DATA_DIR/admin-token)"),
		dataDir: dataDirFlag(fs),
	}
}

// client returns a client with the token the flags, the environment or the
// data folder give.
func (f clientFlags) client(e *env, conns int) (*apiClient, error) {
	tok, err := tokenFrom(e, *f.token, *f.dataDir)
	if err != nil {
		return nil, err
	}
	return newAPIClient(*f.url, tok, conns), nil
}

// orgSummary is what the commands read of an organization.
type orgSummary struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// orgs lists every organization, following the pages.
func (c *apiClient) orgs(ctx context.Context) ([]orgSummary, error) {
	var all []orgSummary
	path := "/v1/orgs?limit=500"
	for {
		var page struct {
			Items []orgSummary `json:"items"`
			Next  *string      `json:"next"`
		}
		if err := c.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, fmt.Errorf("listing organizations: %w", err)
		}
		all = append(all, page.Items...)
		if page.Next == nil || *page.Next == "" {
			return all, nil
		}
		path = "/v1/orgs?limit=500&after=" + url.QueryEscape(*page.Next)
	}
}

// networkID returns the id of the network organization among orgs.
func networkID(orgs []orgSummary) (string, error) {
	for _, o := range orgs {
		if o.Kind == "network" {
			return o.ID, nil
		}
	}
	return "", errors.New("the server has no network organization: start it with `mutual serve` first")
}

// ensureUnit creates a unit, or finds it already there.
func (c *apiClient) ensureUnit(ctx context.Context, code string, scale int, name string) error {
	err := c.do(ctx, http.MethodPost, "/v1/units", map[string]any{"code": code, "scale": scale, "name": name}, nil)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusConflict) {
		return fmt.Errorf("creating unit %s: %w", code, err)
	}
	return nil
}
