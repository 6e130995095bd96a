package koretest

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// The synthetic data model.
//
// Every task has, per outcome (success, failtask) and per component
// (self-service, drop-off and agent-transfer sessions, and executions beyond
// one per session), an expected count per hour: a per-task base volume ×
// a diurnal and weekly traffic curve in the bot's time zone × hourly noise ×
// the component's share, where the shares drift slowly. The hourly rates
// repeat every period hours (4 weeks, aligned to weeks), so one prefix-sum
// table per (task, outcome, component) gives the cumulative expected count
// C(t) at any instant in O(1): C is linear within an hour. A report counts
// floor(C(to)) − floor(C(from)) for each component, so counts are whole,
// never negative and exactly additive: splitting a window anywhere (hours,
// UTC days) and summing gives the window's count.
//
// Assumption (the Kore.ai docs are silent): filters split the integer
// cumulative counts by fixed per-task shares, so that Interactive +
// Non-Interactive = all and Active + Closed = all, exactly and additively.

const (
	// period is the number of hours after which the hourly pattern repeats.
	period = 4 * 7 * 24
	// surgeCap caps the drop-off share a surge can push a task to.
	surgeCap = 0.9
)

// Outcomes (the Status field of a row), in sort order.
const (
	statusFail = iota // "failtask"
	statusSuccess
	numStatus
)

var statusNames = [numStatus]string{"failtask", "success"}

// Components of a task's counts.
const (
	compSelf = iota
	compDrop
	compAgent
	compExtra // executions beyond one per session
	numComps
)

// taskModel is one simulated task.
type taskModel struct {
	TaskInfo
	// nonInteractive and active are the shares of the task's sessions that
	// a ConversationType Non-Interactive / ConversationStatus Active filter
	// selects.
	nonInteractive, active float64
	// web is the share of the task's sessions tagged channel=web; the rest
	// are tagged channel=whatsapp (see ChannelTag).
	web float64
}

// botData is the immutable synthetic data of one bot.
type botData struct {
	tasks  []taskModel
	byName map[string]int
	// sorted lists task indexes by task name.
	sorted []int
	// prefix[(task*numStatus+status)*numComps+comp][j] is the expected
	// count from the start of the period to the start of hour j of the
	// period; j = period holds the whole period's count.
	prefix [][]float64
	// tz is the bot's time zone offset in hours, for the traffic curve.
	tz int
	// channelMix is the cumulative share of the bot's sessions per
	// SessionChannels entry (sessions.go).
	channelMix []float64
}

// hourWeight is the relative traffic per local hour of a weekday.
var hourWeight = [24]float64{
	0.12, 0.08, 0.06, 0.05, 0.06, 0.10, 0.20, 0.40, 0.70, 0.90, 1.00, 1.00,
	0.90, 0.95, 1.00, 0.95, 0.85, 0.70, 0.55, 0.50, 0.45, 0.38, 0.28, 0.18,
}

// dayWeight is the relative traffic per local weekday, Sunday first.
var dayWeight = [7]float64{0.45, 1.00, 1.00, 0.97, 0.95, 0.85, 0.55}

var tzOffsets = []int{-8, -7, -6, -5, -4, -3, 0, 0, 1, 1, 2, 3, 4, 5, 8, 9, 10}

// pickTasks chooses n task names for a bot of the given domain.
func pickTasks(r *rng, domain string, n int) []TaskInfo {
	pool := slices.Clone(domainPools[domain])
	pool = append(pool, genericPool...)
	r.shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	if n > len(pool) {
		others := slices.DeleteFunc(slices.Clone(Domains), func(s string) bool { return s == domain })
		second := slices.Clone(domainPools[others[r.intn(len(others))]])
		r.shuffle(len(second), func(i, j int) { second[i], second[j] = second[j], second[i] })
		pool = append(pool, second...)
	}
	seen := make(map[string]bool)
	out := make([]TaskInfo, 0, n)
	for _, t := range pool {
		if len(out) == n {
			break
		}
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	return out
}

// botDomain returns the bot's domain: Bot.Domain when it names one, else one
// chosen by the seed.
func botDomain(b Bot, seed uint64) string {
	if _, ok := domainPools[b.Domain]; ok {
		return b.Domain
	}
	return Domains[newRNG(seed, 0xd0).intn(len(Domains))]
}

// newBotData builds the data of bot b from its effective seed.
func newBotData(b Bot, seed uint64) *botData {
	r := newRNG(seed, 0xb07)
	n := b.Tasks
	if n <= 0 {
		n = 20 + r.intn(41)
	}
	n = min(n, maxTasks)
	infos := pickTasks(r, botDomain(b, seed), n)
	d := &botData{
		tasks:  make([]taskModel, len(infos)),
		byName: make(map[string]int, len(infos)),
		prefix: make([][]float64, len(infos)*numStatus*numComps),
		tz:     tzOffsets[r.intn(len(tzOffsets))],
	}
	scale := r.between(0.4, 2.0) // small or large bot
	if b.Volume > 0 {
		scale *= b.Volume // after the draw: the seed's choices stay the same
	}
	channels := newRNG(seed, 0xc4a) // a stream of its own: the rest of the data does not move
	for i, info := range infos {
		t := taskModel{TaskInfo: info, active: r.between(0.01, 0.06), web: channels.between(0.35, 0.8)}
		base := scale * 120 / math.Pow(float64(i+1), 0.8) * r.between(0.7, 1.3)
		switch info.Type {
		case TypeFAQ:
			base *= 0.7
			t.nonInteractive = r.between(0, 0.03)
		case TypeAlert:
			base *= 0.6
			t.nonInteractive = r.between(0.55, 0.9) // alerts are mostly proactive
		default:
			t.nonInteractive = r.between(0.02, 0.08)
		}
		d.tasks[i] = t
		d.byName[info.Name] = i
		d.buildTask(r, seed, i, base)
	}
	mix := newRNG(seed, 0xc4b) // a stream of its own: the rest of the data does not move
	weights := []float64{mix.between(0.45, 0.6), mix.between(0.2, 0.3), mix.between(0.1, 0.2), mix.between(0.02, 0.08)}
	var sum, acc float64
	for _, w := range weights {
		sum += w
	}
	for _, w := range weights {
		acc += w / sum
		d.channelMix = append(d.channelMix, acc)
	}
	d.sorted = make([]int, len(d.tasks))
	for i := range d.sorted {
		d.sorted[i] = i
	}
	slices.SortFunc(d.sorted, func(x, y int) int { return cmp.Compare(d.tasks[x].Name, d.tasks[y].Name) })
	return d
}

// shareModel is an outcome's mean shares and their slow drift.
type shareModel struct {
	volume, self, agent, extra float64
	amp, phase1, phase2        float64
}

// buildTask fills the prefix tables of task i.
func (d *botData) buildTask(r *rng, seed uint64, i int, base float64) {
	typ := d.tasks[i].Type
	var models [numStatus]shareModel
	// Successful runs are mostly contained; FAQs most of all.
	s := shareModel{volume: 1}
	switch typ {
	case TypeFAQ:
		s.self = r.between(0.75, 0.95)
	case TypeAlert:
		s.self = r.between(0.6, 0.9)
	default:
		s.self = r.between(0.55, 0.85)
	}
	s.agent = (1 - s.self) * r.between(0.2, 0.6)
	s.extra = r.between(0.05, 0.6)
	s.amp, s.phase1, s.phase2 = r.between(0.01, 0.03), r.between(0, 2*math.Pi), r.between(0, 2*math.Pi)
	models[statusSuccess] = s
	// Failed runs are rarer and mostly end in a drop-off or a transfer.
	f := shareModel{volume: r.between(0.04, 0.18), self: r.between(0.02, 0.2), agent: r.between(0.1, 0.35)}
	f.extra = r.between(0, 0.25)
	f.amp, f.phase1, f.phase2 = r.between(0.01, 0.025), r.between(0, 2*math.Pi), r.between(0, 2*math.Pi)
	models[statusFail] = f

	for st, m := range models {
		var pre [numComps][]float64
		for c := range pre {
			pre[c] = make([]float64, period+1)
		}
		for j := 0; j < period; j++ {
			local := j + d.tz
			hour := ((local % 24) + 24) % 24
			weekday := ((floorDiv(int64(local), 24)+4)%7 + 7) % 7 // 1970-01-01 was a Thursday
			u := uint64(j)
			vol := base * m.volume * hourWeight[hour] * dayWeight[weekday] * (0.7 + 0.6*unit(seed, uint64(i), uint64(st), u, 1))
			phase := 2 * math.Pi * float64(j) / period
			self := m.self + m.amp*math.Sin(phase+m.phase1) + 0.04*(unit(seed, uint64(i), uint64(st), u, 2)-0.5)
			agent := m.agent + 0.5*m.amp*math.Sin(2*phase+m.phase2) + 0.03*(unit(seed, uint64(i), uint64(st), u, 3)-0.5)
			self = min(max(self, 0.01), 0.97)
			agent = min(max(agent, 0.005), 0.6)
			if self+agent > 0.99 {
				k := 0.99 / (self + agent)
				self, agent = self*k, agent*k
			}
			drop := 1 - self - agent
			extra := m.extra * (0.5 + unit(seed, uint64(i), uint64(st), u, 4))
			rates := [numComps]float64{vol * self, vol * drop, vol * agent, vol * extra}
			for c := range pre {
				pre[c][j+1] = pre[c][j] + rates[c]
			}
		}
		for c := range pre {
			d.prefix[d.key(i, st, c)] = pre[c]
		}
	}
}

func (d *botData) key(task, status, comp int) int { return (task*numStatus+status)*numComps + comp }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// hourPos returns the Unix hour containing t and t's fraction of it.
func hourPos(t time.Time) (int64, float64) {
	sec := t.Unix()
	h := floorDiv(sec, 3600)
	ns := (sec-h*3600)*int64(time.Second) + int64(t.Nanosecond())
	return h, float64(ns) / float64(time.Hour)
}

// cum is C(t) of one table, t given as hourPos.
func (d *botData) cum(k int, h int64, frac float64) float64 {
	p := d.prefix[k]
	q := floorDiv(h, period)
	j := h - q*period
	return float64(q)*p[period] + p[j] + frac*(p[j+1]-p[j])
}

// rate is the expected count of one table during Unix hour h.
func (d *botData) rate(k int, h int64) float64 {
	p := d.prefix[k]
	j := h - floorDiv(h, period)*period
	return p[j+1] - p[j]
}

// surge makes a task's drop-off share climb from start on.
type surge struct {
	start time.Time
	ramp  float64 // absolute drop-off share added per hour
}

// surgeShift is how many expected sessions the surge moved from
// self-service to drop-off between its start and t. Per hour it moves at
// most that hour's self-service sessions, so self-service stays
// non-decreasing, and it lifts drop-off at most to surgeCap.
func (d *botData) surgeShift(task, st int, sg surge, t time.Time) float64 {
	if sg.ramp <= 0 || !t.After(sg.start) {
		return 0
	}
	start, end := sg.start.UnixNano(), t.UnixNano()
	h0, _ := hourPos(sg.start)
	h1, _ := hourPos(t)
	kSelf, kDrop, kAgent := d.key(task, st, compSelf), d.key(task, st, compDrop), d.key(task, st, compAgent)
	const hourNs = int64(time.Hour)
	var sum float64
	for h := h0; h <= h1; h++ {
		hs, he := h*3600*int64(time.Second), (h*3600+3600)*int64(time.Second)
		lo, hi := max(hs, start), min(he, end)
		if hi <= lo {
			continue
		}
		self, drop := d.rate(kSelf, h), d.rate(kDrop, h)
		tot := self + drop + d.rate(kAgent, h)
		if tot <= 0 {
			continue
		}
		delta := sg.ramp * float64(he-start) / float64(hourNs)
		delta = min(delta, surgeCap-drop/tot, self/tot)
		if delta <= 0 {
			continue
		}
		sum += delta * tot * float64(hi-lo) / float64(hourNs)
	}
	return sum
}

// filterSpec is a report's effective data filters.
type filterSpec struct {
	include            []string // nil or empty: every task
	convType, convStat string
	// tagged is set when the request filtered by tags; then channels are
	// the values of the channel session tag it asked for (none: no session
	// matches, as for any tag the data does not have).
	tagged   bool
	channels []string
}

// share returns floor(s·n): the part of the whole cumulative count n that a
// filter with share s selects. It is non-decreasing in n, and so is n minus
// it, which keeps filtered counts additive and non-negative.
func share(n int64, s float64) int64 { return int64(math.Floor(s * float64(n))) }

func (t *taskModel) filter(n int64, f filterSpec) int64 {
	switch f.convType {
	case "Non-Interactive":
		n = share(n, t.nonInteractive)
	case "Interactive":
		n -= share(n, t.nonInteractive)
	}
	switch f.convStat {
	case "Active":
		n = share(n, t.active)
	case "Closed":
		n -= share(n, t.active)
	}
	if f.tagged {
		web, whatsapp := slices.Contains(f.channels, ChannelWeb), slices.Contains(f.channels, ChannelWhatsApp)
		switch {
		case web && whatsapp:
		case web:
			n = share(n, t.web)
		case whatsapp:
			n -= share(n, t.web)
		default:
			n = 0
		}
	}
	return n
}

// cumCounts returns the filtered whole cumulative counts of one task and
// outcome at t.
func (d *botData) cumCounts(task, st int, t time.Time, sg *surge, f filterSpec) [numComps]int64 {
	var out [numComps]int64
	for c, v := range d.values(task, st, t, sg) {
		out[c] = d.tasks[task].filter(int64(math.Floor(v)), f)
	}
	return out
}

// values returns the unfiltered cumulative counts C(t) of one task and
// outcome, before rounding, the surge included. Each whole number C
// passes is one session of the task (a unit): the report counts the units
// of its range, and the Sessions History API groups them into sessions.
func (d *botData) values(task, st int, t time.Time, sg *surge) [numComps]float64 {
	h, frac := hourPos(t)
	var shift float64
	if sg != nil {
		shift = d.surgeShift(task, st, *sg, t)
	}
	var out [numComps]float64
	for c := range out {
		out[c] = d.cum(d.key(task, st, c), h, frac)
	}
	out[compDrop] += shift
	out[compSelf] -= shift
	return out
}

// selectTasks returns the indexes of the tasks f selects, sorted by name.
// Assumption: includeTaskName entries that name no task are ignored, and an
// empty list selects every task.
func (d *botData) selectTasks(f filterSpec) []int {
	if len(f.include) == 0 {
		return d.sorted
	}
	var out []int
	for _, i := range d.sorted {
		if slices.Contains(f.include, d.tasks[i].Name) {
			out = append(out, i)
		}
	}
	return out
}

// bucketRow is a report row within its bucket (dateRange).
type bucketRow struct {
	Bucket string
	Row
}

// Aggregation types (kore/API.md §3).
const (
	aggDaily      = "Daily"
	aggCumulative = "Cumulative"
)

const dateLayout = "2006-01-02"

// buckets splits [from, to) into the report's buckets: one per UTC day for
// Daily, else one keyed "<from> - <to>" (dates, UTC).
func buckets(from, to time.Time, agg string) (bounds []time.Time, keys []string) {
	from, to = from.UTC(), to.UTC()
	if agg != aggDaily {
		return []time.Time{from, to}, []string{from.Format(dateLayout) + " - " + to.Format(dateLayout)}
	}
	bounds = []time.Time{from}
	for t := from; t.Before(to); {
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		next := day.AddDate(0, 0, 1)
		keys = append(keys, day.Format(dateLayout))
		if next.After(to) {
			next = to
		}
		bounds = append(bounds, next)
		t = next
	}
	return bounds, keys
}

// report computes the rows of [from, to), as of now (no data after now),
// sorted by bucket, task name and Status. Rows whose counts are all zero
// are left out.
func (d *botData) report(from, to time.Time, agg string, f filterSpec, now time.Time, surges map[int]surge) []bucketRow {
	bounds, keys := buckets(from, to, agg)
	for i, b := range bounds {
		if b.After(now) {
			bounds[i] = now
		}
	}
	tasks := d.selectTasks(f)
	perBucket := make([][]bucketRow, len(keys))
	for k := range perBucket {
		perBucket[k] = make([]bucketRow, 0, len(tasks)*numStatus)
	}
	cums := make([][numComps]int64, len(bounds))
	for _, ti := range tasks {
		var sg *surge
		if s, ok := surges[ti]; ok {
			sg = &s
		}
		for st := range numStatus {
			for bi, b := range bounds {
				if bi > 0 && !b.After(bounds[bi-1]) {
					cums[bi] = cums[bi-1]
					continue
				}
				cums[bi] = d.cumCounts(ti, st, b, sg, f)
			}
			for k := range keys {
				var c [numComps]int64
				for comp := range c {
					c[comp] = max(cums[k+1][comp]-cums[k][comp], 0)
				}
				if c == ([numComps]int64{}) {
					continue
				}
				sessions := c[compSelf] + c[compDrop] + c[compAgent]
				perBucket[k] = append(perBucket[k], bucketRow{Bucket: keys[k], Row: Row{
					TaskName:              d.tasks[ti].Name,
					TaskType:              d.tasks[ti].Type,
					Status:                statusNames[st],
					TotalExecution:        sessions + c[compExtra],
					TotalSession:          sessions,
					SelfServiceSessions:   c[compSelf],
					DropOffSessions:       c[compDrop],
					AgentTransferSessions: c[compAgent],
				}})
			}
		}
	}
	n := 0
	for _, rows := range perBucket {
		n += len(rows)
	}
	out := make([]bucketRow, 0, n)
	for _, rows := range perBucket {
		out = append(out, rows...)
	}
	return out
}
