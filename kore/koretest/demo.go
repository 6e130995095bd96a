package koretest

import "time"

// The exporter's --demo mode and the tests of its alerting rules share this
// setup, so the rules are tested on the data the demo serves.

// DemoVolume is the traffic scale of the demo's first bot: enough that its
// most popular task has at least 40 sessions in every hour of the week
// (about 3,600 in the busiest), above the volume guards of the drop-off
// alerts, so the demo's surge fires the alert whatever the time of day.
const DemoVolume = 30

// Demo surge: the drop-off share of the first bot's most popular task
// climbs by DemoSurgeRamp an hour (up to its cap) from DemoSurgeLead before
// the demo starts, so the one-hour window already shows it.
const (
	DemoSurgeLead = 45 * time.Minute
	DemoSurgeRamp = 1.5
)

// ExporterDemoBots returns the bots of the exporter's --demo mode:
// DemoBots(3, 1), the first one at DemoVolume.
func ExporterDemoBots() []Bot {
	bots := DemoBots(3, 1)
	bots[0].Volume = DemoVolume
	return bots
}

// StartDemoSurge makes the drop-off of botID's most popular task climb from
// DemoSurgeLead before now (see DemoSurgeRamp) and returns the task's name;
// "" for an unknown bot.
func (s *Server) StartDemoSurge(botID string, now time.Time) string {
	tasks := s.Tasks(botID)
	if len(tasks) == 0 {
		return ""
	}
	s.SetDropOffSurge(botID, tasks[0].Name, now.Add(-DemoSurgeLead), DemoSurgeRamp)
	return tasks[0].Name
}
