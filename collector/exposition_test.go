package collector

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/kore-exporter/kore_exporter/collector/internal/expo"
	"github.com/kore-exporter/kore_exporter/kore"
)

// Accept headers of real scrapers.
const (
	acceptPrometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	acceptText       = "text/plain;version=0.0.4"
)

// trickyStore returns a store whose label values and counts exercise every
// escaping and number-formatting rule of both formats.
func trickyStore(t testing.TB) *Store {
	t.Helper()
	s := NewStore()
	s.SetBots([]BotInfo{
		{Name: "support", BotID: "st-1", Host: "https://platform.kore.ai"},
		{Name: `we"ird\bot`, BotID: "st-2\nx", Host: "https://bots.example.com", Labels: map[string]string{"team": `care "&" ops`, "a_first": "sorted\nbefore bot", "zone": "bad \xff utf8"}},
	})
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s.Publish("support", "24h", []kore.TaskRow{
		{TaskName: "Book Flight", TaskType: "Dialog", Status: "success", TotalExecution: 1234567, TotalSession: 1_000_000, SelfServiceSessions: 1, DropOffSessions: 0, AgentTransferSessions: 1 << 53},
		{TaskName: `Say "hi"`, TaskType: "Dialog", Status: "failtask", TotalExecution: 12, TotalSession: 10, SelfServiceSessions: 5, DropOffSessions: 3, AgentTransferSessions: 2},
		{TaskName: "back\\slash\nnew line", TaskType: "FAQ", Status: "success", TotalExecution: -1, TotalSession: 100, SelfServiceSessions: 99},
		{TaskName: "Ünïcödé ✈", TaskType: "Alert", Status: "success", TotalExecution: 7},
		{TaskName: "bad \xff utf8", TaskType: "Dialog", Status: "success", TotalExecution: 3},
	}, at, time.Time{})
	s.Publish("support", "1h", []kore.TaskRow{
		{TaskName: "Book Flight", TaskType: "Dialog", Status: "success", TotalExecution: 5, TotalSession: 4, SelfServiceSessions: 3, DropOffSessions: 1},
	}, at, time.Time{})
	s.Publish(`we"ird\bot`, "7d", []kore.TaskRow{
		{TaskName: "Cancel", TaskType: "Dialog", Status: "failtask", TotalExecution: 10, TotalSession: 9},
	}, at, time.Time{})
	s.Publish("empty", "24h", nil, at, time.Time{})
	s.PublishSessions("support", []SessionRow{
		{Window: "24h", Containment: "self_service", Channel: "rtm", SessionType: "interactive", Sessions: 1 << 40},
		{Window: "24h", Containment: "drop_off", Channel: "rtm", SessionType: "interactive", Sessions: 0},
		{Window: "1h", Containment: "other", Channel: "bad \xff utf8", SessionType: `non"interactive\`, Sessions: 3},
	}, at, time.Time{})
	return s
}

// syntheticRows returns tasks × 2 rows with varied counts.
func syntheticRows(tasks int, seed uint64) []kore.TaskRow {
	r := rand.New(rand.NewPCG(seed, 1))
	rows := make([]kore.TaskRow, 0, 2*tasks)
	for i := range tasks {
		for _, st := range []string{"success", "failtask"} {
			sess := r.Int64N(100000)
			rows = append(rows, kore.TaskRow{
				TaskName:              fmt.Sprintf("Task %03d: Book a flight", i),
				TaskType:              []string{"Dialog", "Alert", "FAQ"}[i%3],
				Status:                st,
				TotalExecution:        sess + r.Int64N(1000),
				TotalSession:          sess,
				SelfServiceSessions:   sess / 2,
				DropOffSessions:       sess / 3,
				AgentTransferSessions: sess - sess/2 - sess/3,
			})
		}
	}
	return rows
}

// bigStore returns a store with bots × windows parts of tasks × 2 rows.
func bigStore(tb testing.TB, bots, tasks int) *Store {
	tb.Helper()
	s := NewStore()
	infos := make([]BotInfo, bots)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for b := range bots {
		infos[b] = BotInfo{Name: fmt.Sprintf("bot-%02d", b), BotID: fmt.Sprintf("st-%08x", b), Host: "https://platform.kore.ai"}
		var sessions []SessionRow
		for w, win := range []string{"24h", "7d"} {
			s.Publish(infos[b].Name, win, syntheticRows(tasks, uint64(b*2+w)), at, time.Time{})
			for i, ch := range []string{"rtm", "whatsapp"} {
				for j, c := range []string{"agent_transfer", "drop_off", "self_service"} {
					sessions = append(sessions, SessionRow{Window: win, Containment: c, Channel: ch, SessionType: "interactive", Sessions: int64(1000*b + 100*w + 10*i + j)})
				}
			}
		}
		s.PublishSessions(infos[b].Name, sessions, at, time.Time{})
	}
	s.SetBots(infos)
	return s
}

// expfmtEncode returns what promhttp would serve for the data: the
// DataCollector gathered through a registry and encoded by expfmt.
func expfmtEncode(t testing.TB, s *Store, f expfmt.Format) []byte {
	t.Helper()
	return expfmtCollect(t, NewDataCollector(s), f)
}

// expfmtCollect returns what expfmt makes of c's metrics gathered through
// a pedantic registry.
func expfmtCollect(t testing.TB, c prometheus.Collector, f expfmt.Format) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, f)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	if err := enc.(expfmt.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dataBlock returns the snapshot's pre-encoded data block in f.
func dataBlock(sn *Snapshot, f format, compressed bool) []byte {
	b := &sn.bodies[f]
	if compressed {
		return b.Compressed()
	}
	return plainBytes(b)
}

// decodeAll parses an exposition with expfmt's decoder for format f (the
// text parser, or the OpenMetrics 1.0 parser) and returns its families
// normalised: metrics sorted by their label sets.
func decodeAll(t testing.TB, body []byte, f expfmt.Format) map[string]*dto.MetricFamily {
	t.Helper()
	out, err := decodeAllErr(body, f)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return out
}

func decodeAllErr(body []byte, f expfmt.Format) (map[string]*dto.MetricFamily, error) {
	dec := expfmt.NewDecoder(bytes.NewReader(body), f)
	out := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", f, err)
		}
		if _, dup := out[mf.GetName()]; dup {
			return nil, fmt.Errorf("family %s appears twice", mf.GetName())
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int {
			return strings.Compare(fmt.Sprint(a.Label), fmt.Sprint(b.Label))
		})
		out[mf.GetName()] = mf
	}
}

func equalFamilies(t *testing.T, got, want map[string]*dto.MetricFamily) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d families, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("family %s missing", name)
			continue
		}
		if !proto.Equal(g, w) {
			t.Errorf("family %s differs:\ngot  %v\nwant %v", name, g, w)
		}
	}
}

// sortedLines returns the lines of b, sorted.
func sortedLines(b []byte) []string {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	return lines
}

// wholeNumbersAsText returns an exposition with the whole-number sample
// values that expfmt's OpenMetrics encoder writes as "12345.0" written as
// the text format writes them, "12345"; every other byte is left as it is.
func wholeNumbersAsText(b []byte) []byte {
	var out []byte
	for line := range bytes.Lines(b) {
		if len(line) > 0 && line[0] != '#' {
			sp := bytes.LastIndexByte(line, ' ') // the value has no space
			v := bytes.TrimSuffix(line[sp+1:], []byte("\n"))
			if digits, ok := bytes.CutSuffix(v, []byte(".0")); ok && len(bytes.TrimLeft(bytes.TrimPrefix(digits, []byte("-")), "0123456789")) == 0 && len(digits) > 0 {
				out = append(append(append(out, line[:sp+1]...), digits...), '\n')
				continue
			}
		}
		out = append(out, line...)
	}
	return out
}

func TestWholeNumbersAsText(t *testing.T) {
	t.Parallel()
	in := "# HELP a x 1.0\na{l=\"v 1.0\"} 1.0\na 0.0\na -12.0\na 1.5\na 1.0e+06\na 1.234567e+06\na NaN\na{l=\"2.0\"} -1.0\n# EOF\n"
	want := "# HELP a x 1.0\na{l=\"v 1.0\"} 1\na 0\na -12\na 1.5\na 1.0e+06\na 1.234567e+06\na NaN\na{l=\"2.0\"} -1\n# EOF\n"
	if got := string(wholeNumbersAsText([]byte(in))); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestPreEncodedMatchesExpfmt proves the pre-encoded data block is what
// expfmt makes of the DataCollector's metrics: in the text format, the same
// lines byte for byte (only their order within a family may differ); in
// OpenMetrics, the same bytes as the text format, which are expfmt's
// OpenMetrics lines but for whole numbers written without ".0"; and in both
// the same families once parsed by the format's own parser.
func TestPreEncodedMatchesExpfmt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		store *Store
		parse bool // the OpenMetrics parser is slow: parse small stores only
	}{
		{"tricky", trickyStore(t), false}, // parsed in TestHandlerNegotiation
		{"small", bigStore(t, 2, 1), true},
		{"synthetic", bigStore(t, 3, 20), false},
	} {
		for _, ff := range []struct {
			f    format
			want expfmt.Format
		}{
			{fmtText, expfmt.FmtText},
			{fmtOpenMetrics, expfmt.FmtOpenMetrics_1_0_0},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, ff.f), func(t *testing.T) {
				t.Parallel()
				sn := tc.store.Load()
				got := dataBlock(sn, ff.f, false)
				want := expfmtEncode(t, tc.store, ff.want)
				if ff.f == fmtOpenMetrics {
					if !bytes.Equal(got, dataBlock(sn, fmtText, false)) {
						t.Error("the OpenMetrics block differs from the text block")
					}
					got = append(slices.Clone(got), "# EOF\n"...)
					want = wholeNumbersAsText(want)
				}
				if g, w := sortedLines(got), sortedLines(want); !slices.Equal(g, w) {
					t.Errorf("lines differ:\n--- got\n%s\n--- want\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
				}
				if tc.parse || ff.f == fmtText {
					equalFamilies(t, decodeAll(t, got, ff.want), decodeAll(t, expfmtEncode(t, tc.store, ff.want), ff.want))
				}

				// The compressed pieces decode to the plain block.
				b := &sn.bodies[ff.f]
				plain := gunzipPieces(t, dataBlock(sn, ff.f, true), b.CRC(), b.Size())
				if !bytes.Equal(plain, dataBlock(sn, ff.f, false)) {
					t.Error("compressed pieces do not decode to the plain block")
				}
			})
		}
	}
}

// TestFamiliesContiguous checks HELP and TYPE come once per family, before
// its samples, with no other family's lines in between.
func TestFamiliesContiguous(t *testing.T) {
	t.Parallel()
	sn := bigStore(t, 4, 3).Load()
	for f := range format(numFormats) {
		if names := checkContiguous(t, dataBlock(sn, f, false)); len(names) != numFamilies {
			t.Errorf("format %d: %d families, want %d", f, len(names), numFamilies)
		}
	}
}

func TestEmptyStoreHasNoData(t *testing.T) {
	t.Parallel()
	sn := NewStore().Load()
	for f := range format(numFormats) {
		if b := &sn.bodies[f]; b.Size() != 0 || len(plainBytes(b)) != 0 || b.CRC() != 0 {
			t.Errorf("format %d: empty store has data: %d bytes", f, b.Size())
		}
	}
	// A part without rows adds nothing either.
	s := NewStore()
	s.Publish("a", "1h", nil, time.Now(), time.Time{})
	if got := s.Load().bodies[fmtText].Size(); got != 0 {
		t.Errorf("empty part encoded %d bytes", got)
	}
}

func TestFormatOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		accept string
		want   format
	}{
		{"", fmtText},
		{acceptText, fmtText},
		{acceptPrometheus, fmtOpenMetrics},
		{"application/openmetrics-text;version=0.0.1", fmtOpenMetrics},
		{"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8", fmtOpenMetrics},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", fmtText},
	} {
		h := http.Header{"Accept": {tc.accept}}
		ct := expfmt.NegotiateAccept(h, acceptedFormats...)
		got, ok := expo.FormatOf(ct)
		if !ok || got != tc.want {
			t.Errorf("Accept %q: negotiated %q → format %d/%v, want %d", tc.accept, ct, got, ok, tc.want)
		}
	}
	if _, ok := expo.FormatOf(expfmt.FmtProtoDelim); ok {
		t.Error("protobuf must not map to a pre-encoded format")
	}
}

// scrape serves one request with h and returns the recorder and the
// decoded body.
func scrape(t testing.TB, h http.Handler, method, accept, acceptEncoding string) (*httptest.ResponseRecorder, []byte) {
	t.Helper()
	rec, body, err := scrapeErr(h, method, accept, acceptEncoding)
	if err != nil {
		t.Fatal(err)
	}
	return rec, body
}

// scrapeErr is scrape for goroutines other than the test's.
func scrapeErr(h http.Handler, method, accept, acceptEncoding string) (*httptest.ResponseRecorder, []byte, error) {
	req := httptest.NewRequest(method, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" && len(body) > 0 {
		br := bytes.NewReader(body)
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(false) // one member: any decoder reads it all
		if body, err = io.ReadAll(zr); err != nil {
			return nil, nil, fmt.Errorf("gunzip: %w", err)
		}
		if br.Len() != 0 {
			return nil, nil, fmt.Errorf("%d bytes after the gzip member", br.Len())
		}
	}
	return rec, body, nil
}

// gunzipPieces frames pre-compressed DEFLATE pieces as one gzip stream (a
// header, the pieces, a final empty block, the trailer of crc and size) and
// decompresses it.
func gunzipPieces(t *testing.T, pieces []byte, crc uint32, size int64) []byte {
	t.Helper()
	z := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, pieces...) // header
	z = append(z, 3, 0)                                                   // final empty block
	z = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(z, crc), uint32(size))
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return plain
}

// TestLayoutUnderChurn publishes, replaces and drops jobs at random, with
// pieces from a few hundred bytes to more than DEFLATE's window, and checks
// every few changes that the data block is the same as a store built
// afresh from the same parts, and that the compressed pieces, each
// compressed to follow the piece before it when that changed, still
// decode to it.
func TestLayoutUnderChurn(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	s := NewStore()
	tasks := func() int {
		if rng.IntN(20) == 0 {
			return 150 + rng.IntN(50) // a piece larger than the window
		}
		return 1 + rng.IntN(60)
	}
	jobs := [][2]string{}
	newJob := func(i int) [2]string {
		return [2]string{fmt.Sprintf("bot-%04d", rng.IntN(2000)), []string{"1h", "24h", "7d"}[i%3]}
	}
	for i := range 150 {
		jobs = append(jobs, newJob(i))
		if _, err := s.Publish(jobs[i][0], jobs[i][1], syntheticRows(tasks(), rng.Uint64()), t0, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	for step := range 150 {
		switch op := rng.IntN(20); {
		case op < 14: // a job's next report
			j := jobs[rng.IntN(len(jobs))]
			if _, err := s.Publish(j[0], j[1], syntheticRows(tasks(), rng.Uint64()), t0, time.Time{}); err != nil {
				t.Fatal(err)
			}
		case op < 17: // a new job
			j := newJob(step)
			jobs = append(jobs, j)
			if _, err := s.Publish(j[0], j[1], syntheticRows(tasks(), rng.Uint64()), t0, time.Time{}); err != nil {
				t.Fatal(err)
			}
		default: // a job dropped
			i := rng.IntN(len(jobs))
			j := jobs[i]
			jobs = slices.Delete(jobs, i, i+1)
			s.Retain(func(bot, window string) bool { return bot != j[0] || window != j[1] })
		}
		if step%30 == 29 {
			sn := s.Load()
			fresh := NewStore()
			for _, p := range sn.Parts() {
				if _, err := fresh.Publish(p.Bot, p.Window, p.Rows, p.At, p.Expires); err != nil {
					t.Fatal(err)
				}
			}
			got := dataBlock(sn, fmtText, false)
			if want := dataBlock(fresh.Load(), fmtText, false); !bytes.Equal(got, want) {
				t.Fatalf("step %d: the data block differs from a store built afresh", step)
			}
			b := &sn.bodies[fmtText]
			if plain := gunzipPieces(t, dataBlock(sn, fmtText, true), b.CRC(), b.Size()); !bytes.Equal(plain, got) {
				t.Fatalf("step %d: the compressed pieces do not decode to the data block", step)
			}
		}
	}
	if got := dataBlock(s.Load(), fmtText, false); !bytes.Equal(sortedLinesJoined(got), sortedLinesJoined(expfmtEncode(t, s, expfmt.FmtText))) {
		t.Error("the data block's lines are not promhttp's")
	}
}

func sortedLinesJoined(b []byte) []byte { return []byte(strings.Join(sortedLines(b), "\n")) }
