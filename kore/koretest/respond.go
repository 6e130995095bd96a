package koretest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

type apiErrorBody struct {
	Errors []apiErrorItem `json:"errors"`
}

type apiErrorItem struct {
	Msg  string `json:"msg"`
	Code int    `json:"code"`
}

// writeError answers status with {"errors":[{"msg":msg,"code":code}]}.
func writeError(w http.ResponseWriter, status, code int, msg string) {
	body, _ := json.Marshal(apiErrorBody{Errors: []apiErrorItem{{Msg: msg, Code: code}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// writeRateLimited answers 429 with msg and Retry-After (kore/API.md §7 Rate limit).
func writeRateLimited(w http.ResponseWriter, msg string, retry time.Duration) {
	w.Header().Set("Retry-After", retryAfterHeader(retry))
	writeError(w, http.StatusTooManyRequests, http.StatusTooManyRequests, msg)
}

// serverErrors is the rotation of injected 5xx answers; html ones look like
// a reverse proxy's pages.
var serverErrors = []struct {
	status int
	html   bool
}{
	{http.StatusInternalServerError, false},
	{http.StatusBadGateway, true},
	{http.StatusServiceUnavailable, false},
	{http.StatusGatewayTimeout, true},
}

func writeServerError(w http.ResponseWriter, seq int) {
	e := serverErrors[seq%len(serverErrors)]
	text := http.StatusText(e.status)
	if !e.html {
		writeError(w, e.status, e.status, text)
		return
	}
	code := strconv.Itoa(e.status)
	body := "<html>\r\n<head><title>" + code + " " + text + "</title></head>\r\n<body>\r\n<center><h1>" +
		code + " " + text + "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	w.Write([]byte(body))
}

// malformedBody is what a Malformed fault sends instead of JSON.
const malformedBody = "<!DOCTYPE html><html><head><title>Kore.ai</title></head>" +
	"<body><p>status: SUCCESS</p><p>percentageComplete: 100</p></body></html>"

// writeOK answers 200 with v as JSON, spoiled as the fault says.
func writeOK(w http.ResponseWriter, v any, f Fault) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if f.Malformed {
		body = []byte(malformedBody)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if f.Truncated {
		// The declared length stays; the connection ends after half.
		w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	w.Write(body)
}
