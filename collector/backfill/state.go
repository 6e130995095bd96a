package backfill

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/contract"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// stateHeader is the first line of a state file: what the file is and the
// version of its records. A file that does not start with it is not a
// backfill state file and is never written to.
const stateHeader = "# kore_exporter backfill state v2\n"

// MaxRecordSize bounds one record of a state file: a longer line is
// dropped unread. A record holds at most max_task_rows rows (the
// configuration's cap is 1,000,000); at the default of 1,000 rows a record
// is some 200 KB.
const MaxRecordSize = 256 << 20

// pointKey identifies a finished point: the bot and window names, the
// instant, and a digest of every setting that changes the point's rows, so
// that a rerun after a configuration change runs the point again.
type pointKey struct {
	Bot, Window string
	At          int64 // Unix milliseconds
	Settings    string
}

// keyOf returns the key of point pt of cfg.
func keyOf(cfg *config.Config, pt Point) pointKey {
	b := cfg.Bots[pt.Bot]
	if isSpan(pt) {
		return pointKey{Bot: b.Name, Window: sessionsSpan, At: pt.At.UnixMilli(), Settings: spanDigest(b, pt.Window.Duration)}
	}
	return pointKey{Bot: b.Name, Window: pt.Window.Name, At: pt.At.UnixMilli(), Settings: settingsDigest(b, pt.Window)}
}

// settingsDigest hashes what decides a point's rows: the bot id (a UUID,
// unique across Kore.ai hosts, so the host is left out and --demo, whose
// simulator listens on a new port each time, resumes too), the window, the
// delay, the filters and max_task_rows. Credentials are not part of it (and
// never written).
func settingsDigest(b config.Bot, w config.Window) string {
	from, to := report.WindowBounds(b, w, time.Unix(0, 0))
	req := report.NewRequest(b, from, to)
	data, _ := json.Marshal(struct { // plain values: cannot fail
		BotID                      string
		From, To                   time.Time
		Tasks                      []string
		ConvType, ConvStatus, Aggr string
		Tags                       []kore.Tag
		MaxTaskRows                int
	}{b.BotID, req.From, req.To, req.IncludeTaskNames, req.ConversationType, req.ConversationStatus, req.AggregationType, req.Tags, b.MaxTaskRows})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// record is one record of the state file: a finished point and its rows.
// On disk it is one line: the CRC-32 (IEEE) of its JSON in 8 hex digits, a
// space, the JSON, a newline.
type record struct {
	Bot      string    `json:"bot"`
	Window   string    `json:"window"`
	At       time.Time `json:"at"`
	Settings string    `json:"settings"`
	Rows     []row     `json:"rows"`
}

// row is a published task row as the state file keeps it.
type row struct {
	TaskName      string `json:"task_name"`
	TaskType      string `json:"task_type"`
	Status        string `json:"status"`
	Executions    int64  `json:"executions"`
	Sessions      int64  `json:"sessions"`
	SelfService   int64  `json:"self_service"`
	DropOff       int64  `json:"drop_off"`
	AgentTransfer int64  `json:"agent_transfer"`
}

func toRows(rs []kore.TaskRow) []row {
	out := make([]row, len(rs))
	for i, r := range rs {
		out[i] = row{r.TaskName, r.TaskType, r.Status, r.TotalExecution, r.TotalSession, r.SelfServiceSessions, r.DropOffSessions, r.AgentTransferSessions}
	}
	return out
}

func fromRows(rs []row) []kore.TaskRow {
	out := make([]kore.TaskRow, len(rs))
	for i, r := range rs {
		out[i] = kore.TaskRow{TaskName: r.TaskName, TaskType: r.TaskType, Status: r.Status, TotalExecution: r.Executions,
			TotalSession: r.Sessions, SelfServiceSessions: r.SelfService, DropOffSessions: r.DropOff, AgentTransferSessions: r.AgentTransfer}
	}
	return out
}

// encodeRecord returns the line of a record.
func encodeRecord(k pointKey, rows []kore.TaskRow) ([]byte, error) {
	body, err := json.Marshal(record{Bot: k.Bot, Window: k.Window, At: time.UnixMilli(k.At).UTC(), Settings: k.Settings, Rows: toRows(rows)})
	if err != nil {
		return nil, fmt.Errorf("state record: %w", err)
	}
	line := fmt.Appendf(make([]byte, 0, len(body)+10), "%08x ", crc32.ChecksumIEEE(body))
	return append(append(line, body...), '\n'), nil
}

// errDamaged is the error of a line whose checksum does not match: cut
// short by a stop or a full disk, or damaged.
var errDamaged = errors.New("cut short or damaged (checksum mismatch)")

// parseRecord decodes and checks one line of a state file, without its
// newline.
func parseRecord(line []byte) (pointKey, []kore.TaskRow, error) {
	if len(line) < 10 || line[8] != ' ' {
		return pointKey{}, nil, errDamaged
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil || uint32(sum) != crc32.ChecksumIEEE(line[9:]) {
		return pointKey{}, nil, errDamaged
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(line[9:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return pointKey{}, nil, fmt.Errorf("not a valid record: %w", err)
	}
	if r.Bot == "" || r.Window == "" || r.Settings == "" || r.At.IsZero() {
		return pointKey{}, nil, errors.New("not a valid record: bot, window, at or settings missing")
	}
	rows := fromRows(r.Rows)
	if err := checkRows(rows); err != nil {
		return pointKey{}, nil, err
	}
	return pointKey{r.Bot, r.Window, r.At.UnixMilli(), r.Settings}, rows, nil
}

// checkRows checks rows read from a state file as a report's rows are
// checked before they are published: no count is negative (the client's
// decoder refuses those in an answer) and the rows are already what
// report.Normalize makes of a report's rows (one row per task, type and
// status, no token and only valid UTF-8 in a label, in order), as every
// record Run writes is. The error names the row, never its labels.
func checkRows(rows []kore.TaskRow) error {
	for i := range rows {
		for _, fam := range contract.TaskFamilies() {
			if v := rows[i].Count(fam.Field); v < 0 {
				return fmt.Errorf("rows[%d]: %s is negative (%d)", i, fam.Field, v)
			}
		}
	}
	norm, err := report.Normalize(rows)
	if err != nil {
		return fmt.Errorf("rows: %w", err)
	}
	if !slices.Equal(norm, rows) {
		return errors.New("rows: not as the exporter publishes them (a task, type and status twice, a token or invalid UTF-8 in a label, or out of order)")
	}
	return nil
}

// entry is where a finished point's rows are: in memory, or the record at
// off (n bytes, without the newline) of the state file.
type entry struct {
	rows []kore.TaskRow
	off  int64
	n    int
}

// State is the finished points of a backfill. With a file behind it
// (OpenState) it is an append-only log of records, one a line, each with a
// checksum: a record cut short anywhere (a stop, a full disk) is dropped
// when the file is read again and every whole record is kept, and the
// next record starts on a line of its own. In memory it keeps only where
// each record is; the rows are read back from the file when the output is
// written.
type State struct {
	mu     sync.Mutex
	points map[pointKey]entry
	f      *os.File  // nil: rows in memory
	w      io.Writer // f's writes; tests make them fail
	path   string
	size   int64 // the file's length: where the next record starts
	// fresh is set when the file may end inside a line: the next record
	// starts with a newline.
	fresh bool
	// failed is the first write error; every later add returns it.
	failed error
}

// NewMemoryState returns a State that is not kept in a file: every row is
// held in memory.
func NewMemoryState() *State { return &State{points: map[pointKey]entry{}} }

// NewTempState returns a State kept in an unnamed temporary file in dir
// (os.TempDir when empty), removed when it is closed or the process ends:
// a run's rows are on disk, not in memory, when there is nothing to
// resume (--output=-).
func NewTempState(dir string) (*State, error) {
	f, err := os.CreateTemp(dir, "kore_exporter-backfill-*.state")
	if err != nil {
		return nil, fmt.Errorf("temporary state file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("temporary state file: %w", err)
	}
	s := &State{points: map[pointKey]entry{}, f: f, w: f, path: f.Name()}
	if err := s.writeHeader(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// OpenState opens (or creates) the state file at path and indexes its
// records. It opens only a regular file (config.OpenRegular: not a FIFO,
// a device, a directory or a socket, nor a symlink to one), reads at most
// MaxRecordSize bytes a record, and refuses a file that does not start
// with the state file's header: a file that is not a state file is never
// written to. Records cut short or damaged and records whose rows fail
// the checks of a report's rows are dropped, each logged with its line
// number; their points run again.
func OpenState(path string, logger log.Logger) (*State, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	f, err := config.OpenRegular(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	s := &State{points: map[pointKey]entry{}, f: f, w: f, path: path}
	if err := s.load(logger); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *State) writeHeader() error {
	n, err := io.WriteString(s.w, stateHeader)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("write state file %s: %w", s.path, err)
	}
	return nil
}

// load reads the file's records into the index.
func (s *State) load(logger log.Logger) error {
	br := bufio.NewReaderSize(s.f, 64<<10)
	header, n, ended, err := readLine(br, len(stateHeader))
	if err != nil {
		return fmt.Errorf("read state file %s: %w", s.path, err)
	}
	switch {
	case n == 0: // a new file
		return s.writeHeader()
	case !ended && header != nil && bytes.HasPrefix([]byte(stateHeader), header):
		// Only a header cut short: the file holds nothing else.
		if err := s.f.Truncate(0); err != nil {
			return fmt.Errorf("state file %s: %w", s.path, err)
		}
		return s.writeHeader()
	case !ended || string(header) != stateHeader[:len(stateHeader)-1]:
		return fmt.Errorf("state file %s: not a backfill state file (its first line is not %q): left as it is; give another --output, or move the file away", s.path, stateHeader[:len(stateHeader)-1])
	}
	off, line := n, 1
	intern := map[string]string{}
	in := func(v string) string {
		if w, ok := intern[v]; ok {
			return w
		}
		intern[v] = v
		return v
	}
	for {
		data, n, ended, err := readLine(br, MaxRecordSize)
		if err != nil {
			return fmt.Errorf("read state file %s line %d: %w", s.path, line+1, err)
		}
		if n == 0 {
			break
		}
		line++
		start := off
		off += n
		s.fresh = !ended
		var k pointKey
		switch {
		case data == nil:
			err = fmt.Errorf("longer than %d bytes", MaxRecordSize)
		case len(data) == 0:
			continue // the newline after a record cut short
		default:
			k, _, err = parseRecord(data)
		}
		if err == nil {
			if _, dup := s.points[k]; dup {
				err = errors.New("a second record of the same point")
			}
		}
		if err != nil {
			level.Warn(logger).Log("msg", "state file: record dropped; its point runs again", "file", s.path, "line", line, "err", err)
			continue
		}
		k.Bot, k.Window, k.Settings = in(k.Bot), in(k.Window), in(k.Settings)
		s.points[k] = entry{off: start, n: len(data)}
	}
	s.size = off
	return nil
}

// readLine reads one line of at most max bytes (without its newline):
// line is nil when it is longer (it is read to its end and skipped), n is
// the bytes read, newline included, and ended says whether it ended with a
// newline (else it is the file's last, cut short).
func readLine(br *bufio.Reader, max int) (line []byte, n int64, ended bool, err error) {
	over := false
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if !over && len(line)+len(chunk) > max+1 {
			over, line = true, nil
		}
		if !over {
			line = append(line, chunk...)
		}
		switch {
		case err == nil:
			if over {
				return nil, n, true, nil
			}
			return line[:len(line)-1], n, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if over {
				return nil, n, false, nil
			}
			return line, n, false, nil
		default:
			return nil, n, false, err
		}
	}
}

// Len returns the number of finished points held.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.points)
}

// has reports whether the point of k is finished.
func (s *State) has(k pointKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.points[k]
	return ok
}

// get returns the rows of the point of k, read back from the file (and
// checked again) when there is one.
func (s *State) get(k pointKey) ([]kore.TaskRow, bool, error) {
	s.mu.Lock()
	e, ok := s.points[k]
	s.mu.Unlock()
	if !ok || s.f == nil {
		return e.rows, ok, nil
	}
	buf := make([]byte, e.n)
	if _, err := s.f.ReadAt(buf, e.off); err != nil {
		return nil, false, fmt.Errorf("read state file %s: %w", s.path, err)
	}
	got, rows, err := parseRecord(buf)
	if err == nil && got != k {
		err = errors.New("another point's record")
	}
	if err != nil {
		return nil, false, fmt.Errorf("state file %s changed while in use: record at byte %d: %w", s.path, e.off, err)
	}
	return rows, true, nil
}

// add records a finished point, first in the file (one write a record).
// After a failed write every add fails: the run stops.
func (s *State) add(k pointKey, rows []kore.TaskRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		s.points[k] = entry{rows: rows}
		return nil
	}
	if s.failed != nil {
		return s.failed
	}
	line, err := encodeRecord(k, rows)
	if err != nil {
		return err
	}
	if s.fresh {
		line = append([]byte{'\n'}, line...)
	}
	n, err := s.w.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.size += int64(n)
		s.fresh = true
		s.failed = fmt.Errorf("write state file %s: %w", s.path, err)
		return s.failed
	}
	e := entry{off: s.size, n: len(line) - 1} // the record without its newline
	if s.fresh {
		e.off, e.n = e.off+1, e.n-1
	}
	s.points[k] = e
	s.size += int64(len(line))
	s.fresh = false
	return nil
}

// Close syncs and closes the state file.
func (s *State) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close state file: %w", err)
	}
	return nil
}
