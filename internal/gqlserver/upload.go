package gqlserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/neuais/neuais/models"
)

// UploadLimits bound how slowly an upload may arrive: a client bringing
// fewer than MinRate bytes per second over a Window is cut off. They stand
// in for the server's body deadline, which would cut a large upload on a
// good but modest link short.
type UploadLimits struct {
	MinRate int64
	Window  time.Duration
}

// Body returns body read under the limits. It moves the connection's read
// deadline along as bytes arrive, so that a client sending nothing at all
// is cut off after one Window too; w must be the request's writer.
func (l UploadLimits) Body(w http.ResponseWriter, body io.Reader) io.Reader {
	now := time.Now()
	return &rateReader{r: body, rc: http.NewResponseController(w), limits: l, start: now}
}

// rateReader enforces UploadLimits on a request body.
type rateReader struct {
	r       io.Reader
	rc      *http.ResponseController
	limits  UploadLimits
	start   time.Time // of the current window
	n       int64     // bytes in the current window
	pushed  time.Time // when the read deadline was last moved
	aborted error
}

func (x *rateReader) tooSlow() error {
	x.aborted = &models.Error{Code: models.CodeTimeout,
		Message: fmt.Sprintf("The upload was slower than %d bytes/s over %s (NEUAIS_FETCH_MIN_RATE, NEUAIS_FETCH_RATE_WINDOW); aborted", x.limits.MinRate, x.limits.Window),
		Details: map[string]any{"min_rate": x.limits.MinRate, "window_seconds": x.limits.Window.Seconds()}}
	return x.aborted
}

func (x *rateReader) Read(p []byte) (int, error) {
	if x.aborted != nil {
		return 0, x.aborted
	}
	now := time.Now()
	if now.Sub(x.start) >= x.limits.Window {
		if float64(x.n) < float64(x.limits.MinRate)*now.Sub(x.start).Seconds() {
			return 0, x.tooSlow()
		}
		x.start, x.n = now, 0
	}
	if now.Sub(x.pushed) > x.limits.Window/4 {
		// Errors only where the writer cannot set deadlines (tests'
		// recorders); the rate check above still holds there.
		_ = x.rc.SetReadDeadline(now.Add(x.limits.Window))
		x.pushed = now
	}
	n, err := x.r.Read(p)
	x.n += int64(n)
	var ne net.Error
	if err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		return n, x.tooSlow()
	}
	return n, err
}

// stream is an upload's body, read once as it arrives: gqlgen's Upload
// wants an io.ReadSeeker, which a body in flight cannot be.
type stream struct{ io.Reader }

func (stream) Seek(int64, int) (int64, error) {
	return 0, errors.New("an upload is read once, as it arrives")
}

// StreamUpload returns an Upload whose bytes are read from body as the
// resolver reads them, never buffered whole. size is -1 when unknown.
func StreamUpload(body io.Reader, filename, contentType string, size int64) graphql.Upload {
	return graphql.Upload{File: stream{body}, Filename: filename, ContentType: contentType, Size: size}
}

// readMultipart reads a GraphQL multipart request
// (github.com/jaydenseric/graphql-multipart-request-spec): the operations
// part, the map part, then the file, which is not read here but handed to
// the resolver as it arrives, so that uploads are never held whole in
// memory or on disk twice. As the file must be the next part, one request
// carries at most one file (the map may name it at several paths); a
// batch of operations is refused. The multipart body needs no CORS
// preflight, but authentication is by bearer header, never cookie, so a
// cross-site form cannot act for a user.
func readMultipart(w http.ResponseWriter, r *http.Request, params *graphql.RawParams, limits UploadLimits) (int, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return http.StatusBadRequest, errors.New("the multipart body has no boundary")
	}
	operations, err := smallPart(mr, "operations")
	if err != nil {
		return http.StatusBadRequest, err
	}
	if strings.HasPrefix(strings.TrimSpace(string(operations)), "[") {
		return http.StatusBadRequest, errors.New("batched operations are not supported")
	}
	if status, err := readJSON(operations, params); err != nil {
		return status, err
	}
	mapping, err := smallPart(mr, "map")
	if err != nil {
		return http.StatusBadRequest, err
	}
	var files map[string][]string
	if err := json.Unmarshal(mapping, &files); err != nil {
		return http.StatusBadRequest, errors.New("map must be a JSON object of arrays of paths")
	}
	if len(files) == 0 {
		return http.StatusBadRequest, checkQuery(params)
	}
	if len(files) > 1 {
		return http.StatusBadRequest, errors.New("one file per request: map must name one file")
	}
	part, err := mr.NextPart()
	if err != nil {
		return http.StatusBadRequest, errors.New("the file named in map is missing")
	}
	paths, ok := files[part.FormName()]
	if !ok {
		return http.StatusBadRequest, fmt.Errorf("the part after map is %q, which map does not name", part.FormName())
	}
	upload := StreamUpload(limits.Body(w, part), part.FileName(), part.Header.Get("Content-Type"), -1)
	for _, path := range paths {
		if err := setUpload(params, path, upload); err != nil {
			return http.StatusBadRequest, err
		}
	}
	return http.StatusBadRequest, checkQuery(params)
}

// smallPart reads the next part, which must be the named form field of at
// most MaxBodyBytes.
func smallPart(mr *multipart.Reader, name string) ([]byte, error) {
	part, err := mr.NextPart()
	if err != nil || part.FormName() != name {
		return nil, fmt.Errorf("the multipart body must start with the %s part", name)
	}
	data, err := io.ReadAll(io.LimitReader(part, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("the %s part could not be read", name)
	}
	if len(data) > MaxBodyBytes {
		return nil, fmt.Errorf("the %s part is too large", name)
	}
	return data, nil
}

// setUpload puts upload at path ("variables.file", "variables.files.0")
// in the variables, where the operations part left a null.
func setUpload(params *graphql.RawParams, path string, upload graphql.Upload) error {
	bad := fmt.Errorf("map path %q does not name a null in variables", path)
	parts := strings.Split(path, ".")
	if len(parts) < 2 || parts[0] != "variables" || params.Variables == nil {
		return bad
	}
	var node any = params.Variables
	for i, key := range parts[1:] {
		last := i == len(parts)-2
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[key]
			if !ok {
				return bad
			}
			if last {
				if v != nil {
					return bad
				}
				n[key] = upload
				return nil
			}
			node = v
		case []any:
			idx, err := strconv.Atoi(key)
			if err != nil || idx < 0 || idx >= len(n) {
				return bad
			}
			if last {
				if n[idx] != nil {
					return bad
				}
				n[idx] = upload
				return nil
			}
			node = n[idx]
		default:
			return bad
		}
	}
	return bad
}
