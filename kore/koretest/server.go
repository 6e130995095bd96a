package koretest

import (
	"crypto/rsa"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Bot is a simulated bot and the JWT app linked to it with the Metrics
// scope.
type Bot struct {
	// ID is the bot (stream) id, st-….
	ID string
	// ClientID is the JWT app's Client ID (cs-…), expected in the appId
	// claim.
	ClientID string
	// ClientSecret is the app's Client Secret; its bytes are the HS256 key
	// as-is.
	ClientSecret string
	// RSAPublicKey, when set, makes RS256 tokens signed with the matching
	// private key acceptable too.
	RSAPublicKey *rsa.PublicKey
	// EnforceJTI is the app's "Enforce JTI" option: every token needs a
	// jti, an exp at most 1 hour after iat, and a jti is accepted once.
	EnforceJTI bool
	// NoMetricsScope makes every authenticated containment report call
	// answer 401 "Permission denied. Scope is incorrect!".
	NoMetricsScope bool
	// NoSessionsScope is an app without the Bot Sessions scope: every
	// authenticated getSessions call answers 401 "Permission denied.
	// Scope is incorrect!" (the containment report still works).
	NoSessionsScope bool
	// Unpublished is a JWT app whose mapping to the bot was not saved, or
	// a bot not published since: every call answers 401 "Invalid SDK
	// credentials", whatever the token.
	Unpublished bool
	// Tasks is the number of tasks (at most 60); 0 picks 20 to 60 from the
	// seed.
	Tasks int
	// Seed makes the bot's synthetic data; 0 derives one from the server's
	// seed and the bot id.
	Seed int64
	// Name is a display name (DemoBots sets one); the simulator ignores it.
	Name string
	// Domain is one of Domains and selects the task-name pool; empty or
	// unknown picks one from the seed.
	Domain string
	// Volume multiplies the bot's traffic: every task's expected counts
	// per hour, in both outcomes; 0 (or less) means 1, the realistic
	// volume. The seed's choices (tasks, shares, patterns) do not change.
	// At the realistic volume a small task may have no failed run (or no
	// run at all) in a quiet hour, so its row is missing from a short
	// window's report; DenseVolume makes every task have both outcomes in
	// every hour, so every report holds 2 rows per task (for benchmarks of
	// a known size).
	Volume float64
}

// DenseVolume is a Bot.Volume at which every task of any bot has at least
// one session of each outcome in every hour of every day, so that every
// report of a window of an hour or more holds both rows (success,
// failtask) of every task. Its counts are far above a real bot's.
const DenseVolume = 10000

// Fault is the misbehaviour injected into one bot's answers. The zero value
// is a healthy bot.
type Fault struct {
	// ServerErrors makes the bot's next N requests answer 500, 502, 503
	// and 504 in turn; 502 and 504 have an HTML body, as a proxy would
	// send.
	ServerErrors int
	// Latency delays every response (until the request's context ends).
	Latency time.Duration
	// Hang makes requests hang until the client gives up (its context
	// ends) or the server closes; no response is written.
	Hang bool
	// Truncated cuts 200 bodies in half: the full Content-Length is
	// declared, half is sent, then the connection ends.
	Truncated bool
	// Malformed makes 200 bodies HTML instead of JSON.
	Malformed bool
	// WrongTypes makes 200 bodies use wrong JSON types: counts as objects
	// and booleans, _id as a number, percentageComplete as an object,
	// expireAt as a number, total as an object.
	WrongTypes bool
	// FailJobs makes jobs submitted while it is set end with status FAILED
	// (HTTP 200, no report).
	FailJobs bool
	// NeverFinish makes jobs submitted while it is set stall below 100%
	// until they expire.
	NeverFinish bool
	// SplitRows makes reports of jobs submitted while it is set split some
	// rows into two records with the same task, type and status in the same
	// bucket, whose counts add up to the original (total counts both). The
	// rows are distinct records: a correct client sums them and still
	// matches Expected.
	SplitRows bool
	// TotalOffset is added to the total of every report page of jobs
	// submitted while it is set: a server that misstates the total (pages
	// that never add up, or a huge total).
	TotalOffset int
	// RateLimited makes every request answer 429 with RetryAfter.
	RateLimited bool
	// RetryAfter is the Retry-After of RateLimited answers; 0 means 60s.
	RetryAfter time.Duration
	// EchoRequest makes the 5xx answers of ServerErrors echo the request
	// they answer, as a debugging error page would: its request line and
	// headers, the auth token included, in the JSON error message (500,
	// 503) or in the HTML page (502, 504).
	EchoRequest bool
	// TokenAsJobID makes the submit's answer carry the request's auth token
	// as the job's _id, as a server that filled the field from the wrong
	// variable would. The job is created under its real id all the same.
	TokenAsJobID bool

	// The faults below act in front of the ones above (see faults.go).

	// StatusServerErrors makes the bot's next N status calls (GET) answer
	// 500, 502, 503 and 504 in turn, as ServerErrors does; submits are
	// not affected.
	StatusServerErrors int
	// RetryAfterHeader, when not empty, is sent verbatim as the
	// Retry-After header of every 429 answer (RateLimited's and the rate
	// limits' own): an HTTP date, a huge or negative number, garbage.
	RetryAfterHeader string
	// RetryAfterDate sends the Retry-After of every 429 answer as an HTTP
	// date, RetryAfter (60s when 0) past the server clock's now, instead
	// of delay-seconds. RetryAfterHeader wins over it.
	RetryAfterDate bool
	// SlowBody makes 200 answers send their status line and headers (no
	// Content-Length), then a body that never ends: one byte of white
	// space every second, until the client gives up or the server closes.
	SlowBody bool
	// Oversize pads 200 bodies with trailing white space to at least this
	// many bytes: still the same valid JSON, only too large.
	Oversize int
	// ForgetJobs makes the server forget a job when its status is asked:
	// status calls answer 404 "Request not found", as for a job id that
	// expired or was never known.
	ForgetJobs bool
	// BadCredentials makes every call answer 401 "Invalid SDK
	// credentials", as a rotated client secret would.
	BadCredentials bool
	// Refuse makes every connection fail before a request is sent: the
	// in-memory transport (Client) returns a dial error, connection
	// refused. The loopback server (NewServer), which has accepted the
	// connection already, closes it without an answer.
	Refuse bool
	// OverflowCounts makes the reports of jobs submitted while it is set
	// carry every row as two records with the same key (total counts
	// both), each with counts of 2^62 and more, so that the sum of any
	// count over the two records is beyond the int64 range.
	OverflowCounts bool
	// TaskFlood adds this many distinct tasks (one success row each, task
	// names "Flood task 000001", …) to the reports of jobs submitted while
	// it is set: a task-name explosion.
	TaskFlood int
	// TokenInTaskName adds two tasks (one success row each) to the reports
	// of jobs submitted while it is set, named from the submit's auth
	// token: the token itself and "Book flight " + token, as a server that
	// filled a field from the wrong variable would. The report is read by
	// later requests with other tokens, so a client's scrub of its own
	// request's token does not catch it.
	TokenInTaskName bool
}

// Stats counts one bot's requests.
type Stats struct {
	// Requests counts every request addressed to the bot.
	Requests int
	// Submits counts POSTs that created a job.
	Submits int
	// Polls counts status calls answered 200 (running, failed or done).
	Polls int
	// Pages counts status calls that returned a finished report page.
	Pages int
	// RateLimited counts 429 answers.
	RateLimited int
	// Unauthorized counts 401 answers.
	Unauthorized int
	// ServerErrors counts injected 5xx answers.
	ServerErrors int
	// BadRequests counts 400 answers.
	BadRequests int
	// NotFound counts 404 answers for unknown or expired jobs.
	NotFound int
	// Refused counts connections the Refuse fault refused; they are not
	// in Requests (the server never saw a request).
	Refused int
	// SessionPages counts getSessions calls answered 200.
	SessionPages int
}

// Row is a report row summed over buckets: one task and outcome.
type Row struct {
	TaskName, TaskType, Status string
	TotalExecution             int64
	TotalSession               int64
	SelfServiceSessions        int64
	DropOffSessions            int64
	AgentTransferSessions      int64
}

// Filters are the report filters that change the data.
type Filters struct {
	// IncludeTaskNames limits the rows to these tasks (includeTaskName).
	IncludeTaskNames []string
	// ConversationType is "", Interactive or Non-Interactive.
	ConversationType string
	// ConversationStatus is "", Active or Closed.
	ConversationStatus string
	// Channels, when not nil, filter by the session tag ChannelTag: the
	// sessions of these channels (ChannelWeb, ChannelWhatsApp); an empty
	// non-nil list selects none, as a tags filter the data cannot match.
	Channels []string
}

// The one tag the simulated sessions carry: a session tag named ChannelTag
// whose value is ChannelWeb or ChannelWhatsApp, split by a fixed share per
// task. A tags filter selects the sessions whose channel is one of the
// values of its ChannelTag element; a filter on any other tag selects
// none. (The Kore.ai docs leave the tags filter's semantics open: see
// kore/API.md §7 tags.)
const (
	ChannelTag      = "channel"
	ChannelWeb      = "web"
	ChannelWhatsApp = "whatsapp"
)

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock (default: the real clock).
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithJobDuration sets how long a job takes to succeed (default 3s); with 0
// the submit's answer already says SUCCESS (the report comes with the first
// status call);
// percentageComplete climbs in steps of 10 meanwhile. 0 makes a job done at
// its first status call.
func WithJobDuration(d time.Duration) Option { return func(s *Server) { s.jobDuration = max(d, 0) } }

// WithJobExpiry sets expireAt = createdOn + d (default 15m).
func WithJobExpiry(d time.Duration) Option { return func(s *Server) { s.jobExpiry = d } }

// WithRateLimits sets the per-bot limits on all calls (default 60 per
// minute and 1800 per hour); unless WithJobStatusLimits is given, the same
// limits apply to the status calls of each job id. A limit ≤ 0 is no limit.
func WithRateLimits(perMinute, perHour int) Option {
	return func(s *Server) { s.perMinute, s.perHour = perMinute, perHour }
}

// WithJobStatusLimits sets the limits on status calls per job id (default:
// those of WithRateLimits, so 60 per minute and 1800 per hour). A limit ≤ 0
// is no limit.
func WithJobStatusLimits(perMinute, perHour int) Option {
	return func(s *Server) { s.jobPerMinute, s.jobPerHour, s.jobLimitsSet = perMinute, perHour, true }
}

// WithSeed sets the seed that bots without their own Seed derive their data
// from (default 0), and of the job ids.
func WithSeed(seed int64) Option { return func(s *Server) { s.seed = seed } }

// Server is the simulated Kore.ai API. Its methods are safe for concurrent
// use.
type Server struct {
	// URL is the base URL: the listener's for NewServer, a placeholder
	// that Client understands for NewInMemory.
	URL string

	clock       Clock
	jobDuration time.Duration
	jobExpiry   time.Duration
	perMinute   int
	perHour     int
	seed        int64

	jobPerMinute, jobPerHour int
	jobLimitsSet             bool
	sessionsPageCap          int

	handler   http.Handler
	ts        *httptest.Server
	done      chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	bots map[string]*botState
	jobs map[string]*job
	jtis map[string]map[string]time.Time // per ClientID: jti → exp
	ids  *rng
}

// botState is a bot and everything the server keeps about it.
type botState struct {
	bot    Bot
	seed   uint64
	userID string // createdBy of its jobs

	dataOnce sync.Once
	data     *botData

	// guarded by Server.mu
	fault  Fault
	errSeq int
	stats  Stats
	calls  window
	surges map[int]surge
}

func (bs *botState) getData() *botData {
	bs.dataOnce.Do(func() { bs.data = newBotData(bs.bot, bs.seed) })
	return bs.data
}

// handlerURL is the URL of a server that is not listening. Client's
// transport ignores scheme and host.
const handlerURL = "https://koretest.invalid"

// NewInMemory returns a Server that is not listening: use its Handler or
// Client, which call the handler directly with no network.
func NewInMemory(opts ...Option) *Server {
	s := &Server{
		URL:             handlerURL,
		clock:           realClock{},
		jobDuration:     3 * time.Second,
		jobExpiry:       15 * time.Minute,
		sessionsPageCap: DefaultSessionsPageCap,
		perMinute:       60,
		perHour:         1800,
		done:            make(chan struct{}),
		bots:            make(map[string]*botState),
		jobs:            make(map[string]*job),
		jtis:            make(map[string]map[string]time.Time),
	}
	for _, o := range opts {
		o(s)
	}
	if !s.jobLimitsSet {
		s.jobPerMinute, s.jobPerHour = s.perMinute, s.perHour
	}
	s.ids = newRNG(uint64(s.seed), 0x1d5)
	s.handler = s.routes()
	return s
}

// NewServer returns a Server listening on a loopback address (plain HTTP) at
// s.URL. Close it when done.
func NewServer(opts ...Option) *Server {
	s := NewInMemory(opts...)
	s.ts = httptest.NewServer(s.handler)
	s.URL = s.ts.URL
	return s
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Client returns an HTTP client whose transport calls the handler directly,
// with no network, whatever the URL's scheme and host. A request whose
// context ends while the handler waits (Hang, Latency) fails with the
// context's error.
func (s *Server) Client() *http.Client { return &http.Client{Transport: memTransport{s.handler}} }

// Close ends hung requests and stops the listener, if any. It is safe to
// call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// AddBot adds bot b, or replaces the bot with the same ID (its state, jobs
// and counters start afresh). It is safe while the server runs.
func (s *Server) AddBot(b Bot) {
	seed := uint64(b.Seed)
	if seed == 0 {
		seed = hashOf(uint64(s.seed), hashString(b.ID))
	}
	bs := &botState{
		bot:    b,
		seed:   seed,
		userID: "u-" + newRNG(seed, 0x05e).uuid(),
		surges: make(map[int]surge),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bots[b.ID] = bs
	for id, j := range s.jobs {
		if j.botID == b.ID {
			delete(s.jobs, id)
		}
	}
}

func (s *Server) bot(id string) *botState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bots[id]
}

// SetFault sets the bot's fault, replacing the previous one (a zero Fault
// heals it). Unknown bots are ignored.
func (s *Server) SetFault(botID string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bs := s.bots[botID]; bs != nil {
		bs.fault, bs.errSeq = f, 0
	}
}

// SetDropOffSurge makes the drop-off share of the bot's task taskName rise
// from start on by rampPerHour (absolute share per hour, e.g. 0.05 = five
// points an hour), up to 0.9, taking sessions from self-service. Both
// outcomes (success, failtask) are affected. An empty taskName picks the
// bot's first task (Tasks()[0]); rampPerHour ≤ 0 ends the surge. Unknown
// bots and tasks are ignored. Reports already submitted keep their rows.
func (s *Server) SetDropOffSurge(botID, taskName string, start time.Time, rampPerHour float64) {
	bs := s.bot(botID)
	if bs == nil {
		return
	}
	d := bs.getData()
	i := 0
	if taskName != "" {
		var ok bool
		if i, ok = d.byName[taskName]; !ok {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rampPerHour <= 0 {
		delete(bs.surges, i)
		return
	}
	bs.surges[i] = surge{start: start, ramp: rampPerHour}
}

// Tasks returns the bot's tasks, most popular first; nil for an unknown bot.
func (s *Server) Tasks(botID string) []TaskInfo {
	bs := s.bot(botID)
	if bs == nil {
		return nil
	}
	d := bs.getData()
	out := make([]TaskInfo, len(d.tasks))
	for i, t := range d.tasks {
		out[i] = t.TaskInfo
	}
	return out
}

// Stats returns the bot's request counts.
func (s *Server) Stats(botID string) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bs := s.bots[botID]; bs != nil {
		return bs.stats
	}
	return Stats{}
}

// Expected returns the simulator's own totals for [from, to) as of the
// clock's now, summed per (taskName, taskType, Status) and sorted by them;
// all-zero rows are left out. It is what a correct client must return for
// a report of that window and filters, whatever the aggregation and paging
// (the SplitRows fault keeps it: the split records add up to the rows).
func (s *Server) Expected(botID string, from, to time.Time, f Filters) []Row {
	bs := s.bot(botID)
	if bs == nil || !from.Before(to) {
		return nil
	}
	d := bs.getData()
	s.mu.Lock()
	surges, now := maps.Clone(bs.surges), s.clock.Now()
	s.mu.Unlock()
	spec := filterSpec{include: f.IncludeTaskNames, convType: f.ConversationType, convStat: f.ConversationStatus,
		tagged: f.Channels != nil, channels: f.Channels}
	rows := d.report(from, to, aggCumulative, spec, now, surges)
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = r.Row
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.TaskName != b.TaskName {
			return a.TaskName < b.TaskName
		}
		if a.TaskType != b.TaskType {
			return a.TaskType < b.TaskType
		}
		return a.Status < b.Status
	})
	return out
}

// DemoBots returns n bots with generated ids and credentials, each of a
// different domain in turn, for demo mode. The same n and seed give the
// same bots.
func DemoBots(n int, seed int64) []Bot {
	brands := map[string][]string{
		"airline":     {"SkyWays", "AeroLink", "BlueJet"},
		"banking":     {"Northbank", "Civic Savings", "Harbor Trust"},
		"telecom":     {"Telvo", "Wavecell", "Linkly"},
		"retail":      {"ShopSphere", "Cartwell", "UrbanMart"},
		"healthcare":  {"CareFirst Clinics", "MediPoint", "WellPath"},
		"insurance":   {"Shieldline", "Safeharbor", "Covera"},
		"it-helpdesk": {"IT Service Desk", "HR Helpdesk", "Workplace Assist"},
	}
	bots := make([]Bot, n)
	for i := range bots {
		r := newRNG(uint64(seed), uint64(i), 0xde40)
		domain := Domains[i%len(Domains)]
		names := brands[domain]
		bots[i] = Bot{
			ID:           "st-" + r.uuid(),
			ClientID:     "cs-" + r.uuid(),
			ClientSecret: r.secret(),
			Seed:         int64(r.next() >> 1),
			Name:         names[(i/len(Domains))%len(names)] + " Assistant",
			Domain:       domain,
		}
		if round := i / (len(Domains) * len(names)); round > 0 {
			bots[i].Name += " " + strconv.Itoa(round+1)
		}
	}
	return bots
}
