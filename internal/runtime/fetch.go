package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/binaries"
	"github.com/neuais/neuais/internal/netguard"
)

// binaryCache keeps fetched binaries under their sha256 and one reference
// file per agent naming the binary it uses, so that a binary is removed
// when its last agent lets go of it, also across server restarts.
type binaryCache struct {
	db         *bun.DB // for uploaded binaries' sha256
	dataDir    string
	dir        string
	maxBytes   int64
	allowFS    bool
	client     *http.Client
	minRate    int64 // bytes per second, averaged over rateWindow
	rateWindow time.Duration

	mu sync.Mutex // orders moves into the cache against reference changes
}

// binaryRef is an agent's reference file.
type binaryRef struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
}

func newBinaryCache(cfg Config, db *bun.DB) (*binaryCache, error) {
	dir := filepath.Join(cfg.DataDir, "binaries")
	if err := os.MkdirAll(filepath.Join(dir, "refs"), 0o700); err != nil {
		return nil, fmt.Errorf("runtime: binary cache: %w", err)
	}
	// Downloads cut short by a server crash are never picked up again.
	if partial, err := filepath.Glob(filepath.Join(dir, "download-*")); err == nil {
		for _, f := range partial {
			os.Remove(f)
		}
	}
	dialer := netguard.Dialer(10*time.Second, cfg.AllowPrivateURLs, "binaries are downloaded from public addresses only", "NEUAIS_ALLOW_PRIVATE_BINARY_URLS")
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &binaryCache{
		db:         db,
		dataDir:    cfg.DataDir,
		dir:        dir,
		maxBytes:   cfg.MaxBinaryBytes,
		allowFS:    cfg.AllowFileURLs,
		client:     &http.Client{Timeout: cfg.FetchTimeout, Transport: transport},
		minRate:    cfg.FetchMinRate,
		rateWindow: cfg.FetchRateWindow,
	}, nil
}

// fetch returns the cached path of the binary at rawURL for agentID,
// downloading it unless the agent's reference already names the same URL
// and the file is still there. binaryID, when set, is the uploaded binary
// of organization orgID that rawURL names: it is copied from the upload
// store, with no download (and so no address check). expectedSHA ("" for
// none) is checked before the binary is used. The returned error says why
// in words fit for the agent's log.
func (c *binaryCache) fetch(ctx context.Context, agentID, orgID, binaryID, rawURL, expectedSHA string) (string, error) {
	expectedSHA = strings.ToLower(strings.TrimSpace(expectedSHA))
	if ref, ok := c.ref(agentID); ok && ref.URL == rawURL && (expectedSHA == "" || expectedSHA == ref.SHA256) {
		path := filepath.Join(c.dir, ref.SHA256)
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	var tmp, sum string
	var err error
	if binaryID != "" {
		tmp, sum, err = c.copyUploaded(ctx, orgID, binaryID)
	} else {
		tmp, sum, err = c.download(ctx, rawURL)
	}
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // a no-op once renamed into the cache
	if expectedSHA != "" && expectedSHA != sum {
		return "", fmt.Errorf("sha256 mismatch: expected %s, got %s", expectedSHA, sum)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	path := filepath.Join(c.dir, sum)
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("storing binary: %w", err)
	}
	old, hadOld := c.ref(agentID)
	if err := c.writeRef(agentID, binaryRef{URL: rawURL, SHA256: sum}); err != nil {
		return "", err
	}
	if hadOld && old.SHA256 != sum {
		c.collect(old.SHA256)
	}
	return path, nil
}

// download writes the binary at rawURL to a temporary file in the cache
// directory and returns its path and sha256. An HTTP body slower than
// minRate over a window is aborted.
func (c *binaryCache) download(ctx context.Context, rawURL string) (string, string, error) {
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("invalid binary URL: %w", err)
	}
	var body io.ReadCloser
	switch u.Scheme {
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return "", "", fmt.Errorf("invalid binary URL: %w", err)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return "", "", fmt.Errorf("download: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return "", "", fmt.Errorf("download: HTTP %s", resp.Status)
		}
		rb := &rateBody{ReadCloser: resp.Body}
		defer c.watchRate(ctx, abort, rb)()
		body = rb
	case "file":
		if !c.allowFS {
			return "", "", errors.New("file:// binary URLs are not allowed on this server")
		}
		f, err := os.Open(u.Path)
		if err != nil {
			return "", "", fmt.Errorf("open: %w", err)
		}
		body = f
	default:
		return "", "", fmt.Errorf("unsupported binary URL scheme %q (use http or https)", u.Scheme)
	}
	defer body.Close()

	f, err := os.CreateTemp(c.dir, "download-*")
	if err != nil {
		return "", "", fmt.Errorf("storing binary: %w", err)
	}
	hash := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, hash), io.LimitReader(body, c.maxBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && context.Cause(ctx) != ctx.Err() {
		err = context.Cause(ctx) // why the rate watch aborted it
	}
	if err == nil && n > c.maxBytes {
		err = fmt.Errorf("binary is larger than the limit of %d bytes", c.maxBytes)
	}
	if err == nil {
		err = checkExecutable(f.Name())
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o755) // readable by the sandboxes' users; the cache directory itself is 0700
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", fmt.Errorf("download: %w", err)
	}
	return f.Name(), hex.EncodeToString(hash.Sum(nil)), nil
}

// copyUploaded copies uploaded binary id of orgID to a temporary file in
// the cache directory and returns its path and sha256, checked against the
// one recorded at upload.
func (c *binaryCache) copyUploaded(ctx context.Context, orgID, id string) (string, string, error) {
	var want string
	err := c.db.NewSelect().Table("binaries").Column("sha256").Where("id = ?", id).Where("org_id = ?", orgID).Scan(ctx, &want)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("uploaded binary %s no longer exists", id)
	}
	if err != nil {
		return "", "", fmt.Errorf("looking up uploaded binary %s: %w", id, err)
	}
	src, err := os.Open(binaries.Path(c.dataDir, orgID, want))
	if err != nil {
		return "", "", fmt.Errorf("opening uploaded binary %s: %w", id, err)
	}
	defer src.Close()
	f, err := os.CreateTemp(c.dir, "download-*")
	if err != nil {
		return "", "", fmt.Errorf("storing binary: %w", err)
	}
	hash := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, hash), src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	if err == nil && sum != want {
		err = fmt.Errorf("uploaded binary %s is damaged: sha256 %s, recorded %s", id, sum, want)
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o755)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", fmt.Errorf("copying uploaded binary: %w", err)
	}
	return f.Name(), sum, nil
}

// rateBody counts the bytes read from a download's body.
type rateBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// errTooSlow is the cause of a download aborted by the rate watch.
type errTooSlow struct {
	minRate int64
	window  time.Duration
	got     int64
}

func (e errTooSlow) Error() string {
	return fmt.Sprintf("slower than %d bytes/s (NEUAIS_FETCH_MIN_RATE): %d bytes in the last %s; aborted", e.minRate, e.got, e.window)
}

// watchRate aborts the download when a window brings fewer bytes than
// minRate×rateWindow; call the returned func when the body is read.
func (c *binaryCache) watchRate(ctx context.Context, abort context.CancelCauseFunc, body *rateBody) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(c.rateWindow)
		defer t.Stop()
		want := int64(float64(c.minRate) * c.rateWindow.Seconds())
		var last int64
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n := body.n.Load()
			if n-last < want {
				abort(errTooSlow{minRate: c.minRate, window: c.rateWindow, got: n - last})
				return
			}
			last = n
		}
	}()
	return func() { close(done) }
}

// checkExecutable accepts ELF binaries and #! scripts, so that an HTML
// error page or an archive fails here with a clear reason, not at exec.
func checkExecutable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte("\x7fELF")) || bytes.HasPrefix(head, []byte("#!")) {
		return nil
	}
	return errors.New("content is not an executable (neither an ELF binary nor a #! script)")
}

// release drops agentID's reference and removes its binary when no other
// agent refers to it.
func (c *binaryCache) release(agentID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref, ok := c.ref(agentID)
	if !ok {
		return nil
	}
	if err := os.Remove(c.refPath(agentID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("runtime: release binary: %w", err)
	}
	c.collect(ref.SHA256)
	return nil
}

// agents lists the agents that hold a reference.
func (c *binaryCache) agents() []string {
	entries, err := os.ReadDir(filepath.Join(c.dir, "refs"))
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(id, ".") {
			ids = append(ids, id)
		}
	}
	return ids
}

// collect removes the binary sum when no reference names it; c.mu is held.
func (c *binaryCache) collect(sum string) {
	for _, id := range c.agents() {
		if ref, ok := c.ref(id); ok && ref.SHA256 == sum {
			return
		}
	}
	os.Remove(filepath.Join(c.dir, sum))
}

func (c *binaryCache) refPath(agentID string) string {
	return filepath.Join(c.dir, "refs", filepath.Base(agentID)+".json")
}

func (c *binaryCache) ref(agentID string) (binaryRef, bool) {
	var ref binaryRef
	data, err := os.ReadFile(c.refPath(agentID))
	if err != nil || json.Unmarshal(data, &ref) != nil || ref.SHA256 == "" {
		return binaryRef{}, false
	}
	return ref, true
}

func (c *binaryCache) writeRef(agentID string, ref binaryRef) error {
	data, err := json.Marshal(ref)
	if err != nil {
		return fmt.Errorf("storing binary reference: %w", err)
	}
	if err := writeFileAtomic(c.refPath(agentID), data); err != nil {
		return fmt.Errorf("storing binary reference: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves the old
// or the new content, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
