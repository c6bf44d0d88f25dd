package neuais

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Binary is an uploaded agent binary, stored once per organization by its
// content.
type Binary struct {
	ID        string    `json:"id"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	URL       string    `json:"url"` // neuais://binaries/{id}: an agent's BinaryURL
	CreatedAt time.Time `json:"created_at"`
}

// UploadBinaryRequest is an upload: Content is streamed as the raw body.
// An io.Seeker (a file, bytes.Reader) is sent with its length and rewound
// for retries; another reader is sent once, without retries.
type UploadBinaryRequest struct {
	Content io.Reader
	// IdempotencyKey makes retries of the same upload safe; when empty the
	// client makes one for this call.
	IdempotencyKey string
}

// BinaryList is one page of binaries.
type BinaryList struct {
	Binaries []Binary `json:"binaries"`
	Page
}

// BinariesService calls the /binaries routes.
type BinariesService struct{ c *Client }

// Binaries returns the binaries API.
func (c *Client) Binaries() *BinariesService { return &BinariesService{c} }

// Upload stores an executable (ELF or #! script); the same content again
// answers the binary already stored.
func (s *BinariesService) Upload(req UploadBinaryRequest) (*Binary, error) {
	return s.UploadContext(s.c.ctx, req)
}

// UploadContext is Upload with a context. Errors: invalid_request (not an
// executable, empty), payload_too_large, forbidden (viewers), conflict
// (IdempotencyKey reused with other bytes).
func (s *BinariesService) UploadContext(ctx context.Context, req UploadBinaryRequest) (*Binary, error) {
	key := req.IdempotencyKey
	if key == "" {
		key = newIdempotencyKey()
	}
	if req.Content == nil {
		return nil, errors.New("neuais: UploadBinaryRequest.Content is nil")
	}
	body, err := newRawBody(req.Content, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	var b Binary
	if err := s.c.do(ctx, http.MethodPost, "/binaries", nil, body, &b, "Idempotency-Key", key); err != nil {
		return nil, err
	}
	return &b, nil
}

// UploadFile uploads the file at path, streamed from disk.
func (s *BinariesService) UploadFile(path string) (*Binary, error) {
	return s.UploadFileContext(s.c.ctx, path)
}

// UploadFileContext is UploadFile with a context.
func (s *BinariesService) UploadFileContext(ctx context.Context, path string) (*Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.UploadContext(ctx, UploadBinaryRequest{Content: f})
}

// List returns a page of the organization's binaries.
func (s *BinariesService) List(opts ...*ListOptions) (*BinaryList, error) {
	return s.ListContext(s.c.ctx, first(opts))
}

// ListContext is List with a context; opts may be nil (Sort: created_at
// or size). Errors: invalid_request (limit, offset, sort, fields).
func (s *BinariesService) ListContext(ctx context.Context, opts *ListOptions) (*BinaryList, error) {
	var list BinaryList
	if err := s.c.do(ctx, http.MethodGet, "/binaries", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// All yields every binary, over all pages.
func (s *BinariesService) All(opts ...*ListOptions) iter.Seq2[Binary, error] {
	return s.AllContext(s.c.ctx, first(opts))
}

// AllContext is All with a context; opts may be nil.
func (s *BinariesService) AllContext(ctx context.Context, opts *ListOptions) iter.Seq2[Binary, error] {
	o := ListOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o, func() ([]Binary, Page, error) {
		list, err := s.ListContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Binaries, list.Page, nil
	})
}

// Get returns one binary.
func (s *BinariesService) Get(id string) (*Binary, error) { return s.GetContext(s.c.ctx, id) }

// GetContext is Get with a context. Errors: not_found.
func (s *BinariesService) GetContext(ctx context.Context, id string) (*Binary, error) {
	var b Binary
	if err := s.c.do(ctx, http.MethodGet, "/binaries/"+url.PathEscape(id), nil, nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Content returns a binary's bytes as a stream, which the caller closes.
func (s *BinariesService) Content(id string) (io.ReadCloser, error) {
	return s.ContentContext(s.c.ctx, id)
}

// ContentContext is Content with a context. Errors: not_found.
func (s *BinariesService) ContentContext(ctx context.Context, id string) (io.ReadCloser, error) {
	res, err := s.c.send(ctx, http.MethodGet, "/binaries/"+url.PathEscape(id)+"/content", nil, nil, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// Delete removes a binary.
func (s *BinariesService) Delete(id string) error { return s.DeleteContext(s.c.ctx, id) }

// DeleteContext is Delete with a context. Errors: not_found, conflict
// (an agent refers to it).
func (s *BinariesService) DeleteContext(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, "/binaries/"+url.PathEscape(id), nil, nil, nil)
}
