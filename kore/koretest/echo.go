package koretest

import (
	"html"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// The faults of this file make the server hand a client's credential back to
// it, as careless servers and proxies do: an error page that shows the
// request it failed on, or a field filled from the wrong variable. A client
// must never let what comes back carry its token further (into an error, a
// log line or a status page).

// echoRequest renders r as a debugging error page would show it: the request
// line, then every header (sorted, the auth token included).
func echoRequest(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL.RequestURI() + " " + r.Proto + "\n")
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range r.Header[name] {
			b.WriteString(name + ": " + v + "\n")
		}
	}
	return b.String()
}

// writeInjectedServerError answers the seq-th injected 5xx (see
// writeServerError); with f.EchoRequest its body echoes r: in the error
// message of the JSON answers (500, 503), in a <pre> of the HTML pages (502,
// 504).
func writeInjectedServerError(w http.ResponseWriter, r *http.Request, seq int, f Fault) {
	if !f.EchoRequest {
		writeServerError(w, seq)
		return
	}
	e := serverErrors[seq%len(serverErrors)]
	text := http.StatusText(e.status)
	echo := echoRequest(r)
	if !e.html {
		writeError(w, e.status, e.status, text+": request was:\n"+echo)
		return
	}
	code := strconv.Itoa(e.status)
	body := "<html>\r\n<head><title>" + code + " " + text + "</title></head>\r\n<body>\r\n<center><h1>" +
		code + " " + text + "</h1></center>\r\n<p>Request:</p>\r\n<pre>" + html.EscapeString(echo) +
		"</pre>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	w.Write([]byte(body))
}

// tokenAsJobID returns the submit's answer v (a job envelope, or its
// WrongTypes map) with the request's auth token as the job's _id when
// f.TokenAsJobID is set, else v unchanged.
func tokenAsJobID(v any, r *http.Request, f Fault) any {
	if !f.TokenAsJobID {
		return v
	}
	token := r.Header.Get("Auth")
	switch e := v.(type) {
	case envelope:
		e.ID = token
		return e
	case map[string]any:
		e["_id"] = token
		return e
	}
	return v
}
