// Package contract is the exporter's data metric contract
// (docs/metrics.md), kept in one place for every writer and checker of
// those series: the /metrics exposition, the backfill's OpenMetrics writer,
// the configuration's label checks and series estimate, and the deploy
// tests of dashboards and rules. It holds the families' names and HELP
// texts and the report field each task family counts, the label names of
// the task families (in order) and of kore_bot_info, the labels a bot's
// static labels may not use, and the reserved values of the rows that the
// max_task_rows cap folds tasks into. It imports no other package of the
// project.
package contract

import (
	"cmp"
	"slices"
	"strings"
)

// Family is one data metric family, a gauge.
type Family struct {
	// Name is the metric name; Help its HELP text.
	Name, Help string
	// Field is the report row field (the API's name, as kore.TaskRow.Count
	// takes it) a task family counts; empty for kore_bot_info.
	Field string
}

// helpSuffix ends the HELP text of every task family: the data is served
// from the last report, never fetched at scrape time.
const helpSuffix = " in the rolling window, from the last finished Kore.ai Task Execution-Based Containment Report job (cached; not fetched at scrape time)."

// BotInfo returns kore_bot_info: one sample of 1 per configured bot, with
// the labels of BotInfoPairs.
func BotInfo() Family {
	return Family{Name: "kore_bot_info",
		Help: "Configured Kore.ai bot: bot is the configured name, bot_id the Kore.ai bot id, host the API host; constant 1."}
}

// BotSessions returns kore_bot_sessions: a bot's sessions in a window, by
// containment type, channel and session type, from the Sessions History
// report (each session counted once, as Kore.ai's Containment dashboard
// counts them), with the labels of SessionLabels.
func BotSessions() Family {
	return Family{Name: "kore_bot_sessions",
		Help: "Conversation sessions of the bot that started in the rolling window (whole hours), each counted once, by containment type, channel and session type, from the Kore.ai Sessions History API (cached; not fetched at scrape time)."}
}

// TaskFamilies returns the kore_task_* families, sorted by name (the order
// the exporter writes them in, after kore_bot_info). Every one has the
// labels of TaskLabels.
func TaskFamilies() []Family {
	return []Family{
		{"kore_task_agent_transfer_sessions", "Task sessions transferred to a human agent" + helpSuffix, "agentTransferSessions"},
		{"kore_task_drop_off_sessions", "Task sessions that dropped off (the user left)" + helpSuffix, "dropOffSessions"},
		{"kore_task_executions", "Task executions" + helpSuffix, "totalExecution"},
		{"kore_task_self_service_sessions", "Task sessions that ended self-service (contained)" + helpSuffix, "selfServiceSessions"},
		{"kore_task_sessions", "Conversation sessions in which the task ran" + helpSuffix, "totalSession"},
	}
}

// The label names of the data metrics.
const (
	LabelBot      = "bot"       // the configured bot name
	LabelWindow   = "window"    // the window as configured (1h, 24h, 7d)
	LabelTaskName = "task_name" // Kore.ai's task name, verbatim
	LabelTaskType = "task_type" // Kore.ai's task type, verbatim
	LabelStatus   = "status"    // Kore.ai's outcome (success, failtask), verbatim
	LabelBotID    = "bot_id"    // the Kore.ai bot id, on kore_bot_info
	LabelHost     = "host"      // the API host, on kore_bot_info

	LabelContainment = "containment"  // kore_bot_sessions: SessionContainment
	LabelChannel     = "channel"      // kore_bot_sessions: SessionChannel
	LabelSessionType = "session_type" // kore_bot_sessions: SessionType
)

// SessionLabels returns the label names of kore_bot_sessions, in the order
// their values are given: bot, window, containment, channel, session_type.
func SessionLabels() []string {
	return []string{LabelBot, LabelWindow, LabelContainment, LabelChannel, LabelSessionType}
}

// The containment label values of kore_bot_sessions; Other stands for a
// containment type, channel or session type outside the known set.
const (
	SelfService   = "self_service"
	DropOff       = "drop_off"
	AgentTransfer = "agent_transfer"
	OtherValue    = "other"
)

// SessionContainments are the containment values every channel and session
// type of a window is exported with (zero included), so that ratios exist
// for each; OtherValue is exported only where it counts sessions.
func SessionContainments() []string { return []string{SelfService, DropOff, AgentTransfer} }

// SessionContainment maps the API's containmentType to the label value.
func SessionContainment(api string) string {
	switch api {
	case "selfService":
		return SelfService
	case "dropOff":
		return DropOff
	case "agent":
		return AgentTransfer
	}
	return OtherValue
}

// sessionChannels are the channel values kept as they are: Kore.ai's
// channel ids of its documented channels. Any other folds into OtherValue,
// so the label stays bounded whatever the API sends.
var sessionChannels = []string{
	"rtm", "ivr", "korevg", "audiocodes", "twilio", "whatsapp", "msteams", "slack", "facebook",
	"email", "line", "telegram", "viber", "wechat", "spark", "ringcentral", "zendesk", "webhook", "sms",
}

// SessionChannels returns the channel label values kept as they are.
func SessionChannels() []string { return slices.Clone(sessionChannels) }

// SessionChannel maps the API's channel to the label value.
func SessionChannel(api string) string {
	if slices.Contains(sessionChannels, api) {
		return api
	}
	return OtherValue
}

// SessionType maps the API's sessionType to the label value: interactive,
// non_interactive or OtherValue.
func SessionType(api string) string {
	switch api {
	case "interactive":
		return "interactive"
	case "non-interactive":
		return "non_interactive"
	}
	return OtherValue
}

// TaskLabels returns the label names of the task families, in the order
// their values are given: bot, window, task_name, task_type, status. The
// exposition writes them sorted by name.
func TaskLabels() []string {
	return []string{LabelBot, LabelWindow, LabelTaskName, LabelTaskType, LabelStatus}
}

// BotInfoLabels returns the fixed label names of kore_bot_info: bot,
// bot_id, host. Each bot's static labels come after them.
func BotInfoLabels() []string { return []string{LabelBot, LabelBotID, LabelHost} }

// ReservedLabels returns the label names a bot's static labels may not use:
// the exporter's own, and job and instance, which Prometheus sets on every
// target.
func ReservedLabels() []string {
	return []string{LabelBot, LabelBotID, LabelHost, LabelWindow, LabelTaskName, LabelTaskType, LabelStatus, "job", "instance"}
}

// BotInfoPairs returns the labels of a bot's kore_bot_info sample as
// name-value pairs sorted by name, values made valid (LabelValue): bot,
// bot_id and host, and the static labels (whose names the configuration
// keeps clear of ReservedLabels).
func BotInfoPairs(bot, botID, host string, static map[string]string) [][2]string {
	out := make([][2]string, 0, 3+len(static))
	for i, name := range BotInfoLabels() {
		out = append(out, [2]string{name, LabelValue([]string{bot, botID, host}[i])})
	}
	for name, v := range static {
		out = append(out, [2]string{name, LabelValue(v)})
	}
	slices.SortFunc(out, func(x, y [2]string) int { return cmp.Compare(x[0], y[0]) })
	return out
}

// LabelValue returns s as a label value: invalid UTF-8 replaced with
// U+FFFD.
func LabelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// The reserved labels of the rows into which the tasks beyond a bot's
// max_task_rows cap are folded: task_name OtherTasks, task_type Other, and
// status Other for statuses other than success and failtask.
const (
	OtherTasks = "__other_tasks__"
	Other      = "__other__"
)
