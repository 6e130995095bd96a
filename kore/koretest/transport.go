package koretest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
)

// memTransport is an http.RoundTripper that serves requests by calling the
// handler in the caller's goroutine: no network, no goroutines, so it works
// inside testing/synctest bubbles. It mimics what a client sees over a real
// connection: canonical header names, a request context that ends the
// handler's waits, an aborted handler (http.ErrAbortHandler) as a failed
// exchange, and a body shorter than its Content-Length as a body that ends
// with io.ErrUnexpectedEOF.
type memTransport struct {
	h http.Handler
}

// errAborted is what a request gets when the handler drops the connection
// before answering, while its context is still live.
var errAborted = errors.New("koretest: connection closed by server")

func (t memTransport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sreq := httptest.NewRequestWithContext(ctx, req.Method, req.URL.String(), bytes.NewReader(body))
	sreq.Header = make(http.Header, len(req.Header))
	for k, v := range req.Header {
		ck := http.CanonicalHeaderKey(k)
		sreq.Header[ck] = append(sreq.Header[ck], v...)
	}
	if req.Host != "" {
		sreq.Host = req.Host
	}
	rec := httptest.NewRecorder()
	w := &trackingWriter{ResponseRecorder: rec}

	aborted := serve(t.h, w, sreq)
	if w.refused {
		return nil, errRefused
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if aborted && !w.wrote {
		return nil, errAborted
	}
	resp = rec.Result()
	resp.Request = req
	data := rec.Body.Bytes()
	var rd io.Reader = bytes.NewReader(data)
	resp.ContentLength = int64(len(data))
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n > int64(len(data)) {
		rd = io.MultiReader(rd, errReader{io.ErrUnexpectedEOF})
		resp.ContentLength = n
	}
	if w.stream != nil {
		rd = io.MultiReader(rd, w.stream)
		resp.ContentLength = -1
	}
	resp.Body = &ctxBody{ctx: ctx, r: rd}
	return resp, nil
}

// serve calls h and reports whether it aborted with http.ErrAbortHandler.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

// trackingWriter notes whether the handler started its response.
type trackingWriter struct {
	*httptest.ResponseRecorder
	wrote bool
	// refused and stream are set by the Refuse and SlowBody faults
	// (faults.go): refuse the connection; the rest of the body.
	refused bool
	stream  io.Reader
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseRecorder.WriteHeader(code)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseRecorder.Write(p)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// ctxBody fails reads once the request's context has ended, as a real
// response body does.
type ctxBody struct {
	ctx context.Context
	r   io.Reader
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

func (b *ctxBody) Close() error { return nil }
