package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/neuais/neuais/models"
)

// StreamKeepAlive is the interval of the comment lines that keep an idle
// Server-Sent Events stream open through proxies.
const StreamKeepAlive = 15 * time.Second

// follows reports whether the query asks for the route's stream (follow=true).
func (e *endpoint) follows(query url.Values) (bool, *models.Error) {
	raw := query.Get("follow")
	if raw == "" || e.stream == nil {
		return false, nil
	}
	follow, err := strconv.ParseBool(raw)
	if err != nil {
		return false, models.Invalid("follow", "must be true or false")
	}
	return follow, nil
}

// stream runs e's subscription and writes it as Server-Sent Events:
// one event per result, with the result's _id as the event id, a comment
// every StreamKeepAlive, and a final "error" event with the contract's
// envelope when the stream ends for a reason (agent deleted, token
// expired, server shutting down). It returns when the stream or the client ends.
func (a *API) stream(e *endpoint, w http.ResponseWriter, r *http.Request, query url.Values) {
	doc, vars, coded := a.fill(e.stream, r, query)
	if coded != nil {
		WriteError(w, coded)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		WriteError(w, models.Errorf(models.CodeInternal, "streaming unsupported"))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ctx = graphql.StartOperationTrace(withDocument(ctx, doc))
	params := &graphql.RawParams{Query: doc.text, Variables: vars, ReadTime: graphql.TraceTiming{Start: graphql.Now(), End: graphql.Now()}}
	opCtx, errs := a.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		WriteError(w, e.stream.errorOf(errs[0]))
		return
	}
	responses, ctx := a.exec.DispatchOperation(ctx, opCtx)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	next := make(chan *graphql.Response, 64) // lets gqlgen marshal ahead of the writer
	go func() {
		defer close(next)
		for {
			resp := responses(ctx)
			if resp == nil {
				return
			}
			// gqlgen reuses its buffer for the next response.
			resp.Data = bytes.Clone(resp.Data)
			select {
			case next <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	keepAlive := time.NewTicker(StreamKeepAlive)
	defer keepAlive.Stop()
	var buf bytes.Buffer
	for {
		buf.Reset()
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			buf.WriteString(": keep-alive\n\n")
		case resp, ok := <-next:
			if !ok {
				return
			}
			// Under load, write every event already waiting before one flush.
			for more := true; more; {
				if !e.writeEvent(&buf, resp) {
					_, _ = w.Write(buf.Bytes())
					flusher.Flush()
					return
				}
				select {
				case resp, more = <-next:
				default:
					more = false
				}
			}
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		flusher.Flush()
	}
}

// writeEvent appends resp to buf as an event; for a final error it
// appends the "error" event and returns false.
func (e *endpoint) writeEvent(buf *bytes.Buffer, resp *graphql.Response) bool {
	if resp == nil {
		return false
	}
	if len(resp.Errors) > 0 {
		data, _ := json.Marshal(envelopeOf(e.stream.errorOf(resp.Errors[0])))
		buf.WriteString("event: error\ndata: ")
		buf.Write(data)
		buf.WriteString("\n\n")
		return false
	}
	id, data := cutLeading(resultOf(resp.Data), "_id")
	for _, shape := range e.eventShapers {
		data = shape(nil, data)
	}
	if id != "" {
		buf.WriteString("id: " + id + "\n")
	}
	buf.WriteString("data: ")
	buf.Write(data)
	buf.WriteString("\n\n")
	return true
}

// dropNulls removes null members from the objects of a JSON value written
// by gqlgen; arrays are kept as they are.
func dropNulls(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || raw[0] != '{' {
		return raw
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return raw
	}
	for k, v := range members {
		if string(v) == "null" {
			delete(members, k)
		} else {
			members[k] = dropNulls(v)
		}
	}
	out, err := json.Marshal(members)
	if err != nil {
		return raw
	}
	return out
}
