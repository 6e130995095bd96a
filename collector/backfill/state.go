package backfill

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/collector/report"
	"github.com/kore-exporter/kore_exporter/kore"
)

// stateVersion is the version of the state file's records.
const stateVersion = 1

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

// record is one line of the state file: a finished point and its rows.
type record struct {
	V        int       `json:"v"`
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

// State is the finished points of a backfill and their rows. With a file
// behind it (OpenState) it is an append-only JSON Lines log, one point per
// line, so a run that is stopped at any moment loses at most the line being
// written, and a rerun skips every point it holds.
type State struct {
	mu     sync.Mutex
	points map[pointKey][]kore.TaskRow
	f      *os.File // nil: in memory only
}

// NewMemoryState returns a State that is not kept in a file.
func NewMemoryState() *State { return &State{points: map[pointKey][]kore.TaskRow{}} }

// OpenState opens (or creates) the state file at path and loads its points.
// A last line cut short by a crash is dropped from the file.
func OpenState(path string) (*State, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state file: %w", err)
	}
	s := NewMemoryState()
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read state file %s: %w", path, err)
	}
	good := 0 // bytes of complete, valid lines
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	line := 0
	for sc.Scan() {
		line++
		end := good + len(sc.Bytes()) + 1
		if end > len(data) { // no newline: the line was cut short
			break
		}
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.V != stateVersion {
			if end == len(data) {
				break // a cut last line
			}
			f.Close()
			return nil, fmt.Errorf("state file %s line %d: not a backfill state record (version %d): remove the file to start afresh", path, line, stateVersion)
		}
		s.points[pointKey{r.Bot, r.Window, r.At.UnixMilli(), r.Settings}] = fromRows(r.Rows)
		good = end
	}
	if err := f.Truncate(int64(good)); err != nil {
		f.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	s.f = f
	return s, nil
}

// Len returns the number of finished points held.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.points)
}

func (s *State) get(k pointKey) ([]kore.TaskRow, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, ok := s.points[k]
	return rows, ok
}

// add records a finished point, first in the file (one write per line).
func (s *State) add(k pointKey, rows []kore.TaskRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		line, err := json.Marshal(record{V: stateVersion, Bot: k.Bot, Window: k.Window, At: time.UnixMilli(k.At).UTC(), Settings: k.Settings, Rows: toRows(rows)})
		if err != nil {
			return fmt.Errorf("state record: %w", err)
		}
		if _, err := s.f.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("write state file: %w", err)
		}
	}
	s.points[k] = rows
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
