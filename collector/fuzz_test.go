package collector

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/kore-exporter/kore_exporter/kore"
)

// FuzzPublishScrape feeds rows with arbitrary task names, types, statuses
// and counts through the publish path and scrapes them with arbitrary
// Accept and Accept-Encoding headers: the answer must be what promhttp
// serves for the same data (the same negotiation, the same lines, but for
// whole numbers in OpenMetrics, written as the text format writes them),
// and parse with the format's parser.
func FuzzPublishScrape(f *testing.F) {
	f.Add("Book Flight", "Dialog", "success", int64(10), "Cancel", int64(3), acceptPrometheus, "gzip")
	f.Add(`Say "hi"`, "Dialog", "failtask", int64(-1), "back\\slash\nnew line", int64(1<<53), acceptText, "")
	f.Add("bad \xff utf8", "FAQ", "", int64(0), "Ünïcödé ✈", int64(9223372036854775807), "application/openmetrics-text;version=0.0.1", "identity")
	f.Add("Book Flight", "Dialog", "success", int64(9223372036854775807), "Book Flight", int64(1), "*/*", "gzip;q=0")
	f.Add("__other_tasks__", "Dialog", "success", int64(5), "", int64(0), "text/html,application/xhtml+xml,*/*;q=0.8", "gzip, deflate, br")
	f.Add("a", "b", "c", int64(1), "a", int64(2), "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8", "GZIP")
	f.Fuzz(func(t *testing.T, name1, type1, status1 string, n1 int64, name2 string, n2 int64, accept, acceptEncoding string) {
		rows := []kore.TaskRow{
			{TaskName: name1, TaskType: type1, Status: status1, TotalExecution: n1, TotalSession: n2, DropOffSessions: 1},
			{TaskName: name2, TaskType: type1, Status: status1, TotalExecution: n2, SelfServiceSessions: n1},
		}
		s := NewStore()
		s.SetBots([]BotInfo{{Name: "bot", BotID: "st-1", Host: "https://platform.kore.ai"}})
		if _, err := s.Publish("bot", "24h", rows, t0, time.Time{}); err != nil {
			// Rows of one key whose sum overflows: refused, nothing kept.
			if _, ok := s.Load().Part("bot", "24h"); ok {
				t.Fatalf("a refused publish (%v) left a part", err)
			}
			return
		}
		self := prometheus.NewRegistry()
		ours := NewHandler(s, self, HandlerOpts{})
		ref := reference(t, s, self, nil)
		rec, body, err := scrapeErr(ours, http.MethodGet, accept, acceptEncoding)
		if err != nil {
			t.Fatal(err)
		}
		refRec, refBody, err := scrapeErr(ref, http.MethodGet, accept, acceptEncoding)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Code != refRec.Code {
			t.Fatalf("status %d, promhttp says %d", rec.Code, refRec.Code)
		}
		for _, h := range []string{"Content-Type", "Content-Encoding"} {
			if got, want := rec.Header().Get(h), refRec.Header().Get(h); got != want {
				t.Fatalf("%s %q, promhttp says %q", h, got, want)
			}
		}
		// The text format byte for byte; OpenMetrics but for whole numbers,
		// which the exporter writes without ".0".
		if expfmt.Format(rec.Header().Get("Content-Type")).FormatType() == expfmt.TypeOpenMetrics {
			body, refBody = wholeNumbersAsText(body), wholeNumbersAsText(refBody)
		}
		if got, want := strings.Join(sortedLines(body), "\n"), strings.Join(sortedLines(refBody), "\n"); got != want {
			t.Fatalf("lines differ from promhttp's:\n--- got\n%s\n--- want\n%s", got, want)
		}
		ct := expfmt.Format(rec.Header().Get("Content-Type"))
		switch ct.FormatType() {
		case expfmt.TypeTextPlain:
			if _, err := decodeAllErr(body, ct); err != nil {
				t.Fatalf("the text parser refuses the answer: %v\n%s", err, body)
			}
		case expfmt.TypeOpenMetrics:
			if bytes.Count(body, []byte("# EOF")) != 1 || !bytes.HasSuffix(body, []byte("# EOF\n")) {
				t.Fatalf("an OpenMetrics answer without one final # EOF:\n%s", body)
			}
		}
	})
}
