package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// TestVariantsEndToEnd runs one Kore.ai bot in two variants (web and
// WhatsApp, by the simulator's channel session tag) with routing labels:
// each variant's task gauges equal the simulator's totals for its channel,
// the two add up to the whole bot, and kore_bot_info carries the labels.
func TestVariantsEndToEnd(t *testing.T) {
	skipShort(t, "end-to-end on a real clock")
	sim := koretest.NewServer(koretest.WithJobDuration(300 * time.Millisecond))
	defer sim.Close()
	bot := koretest.DemoBots(1, 11)[0]
	sim.AddBot(bot)
	variant := func(name, channel, team string) string {
		return fmt.Sprintf(`  - name: %s
    bot_id: %s
    client_id: %s
    client_secret: %q
    labels: {team: %s}
    filters:
      tags: [{name: %s, values: [%s], type: session}]
`, name, bot.ID, bot.ClientID, bot.ClientSecret, team, koretest.ChannelTag, channel)
	}
	cfg := fmt.Sprintf(`defaults:
  host: %s
  allow_insecure_http: true
  interval: 1m  # first runs spread over at most 6 s
  windows: [24h]
  labels: {env: test}
bots:
`, sim.URL) + variant("support-web", koretest.ChannelWeb, "care") + variant("support-whatsapp", koretest.ChannelWhatsApp, "messaging") +
		fmt.Sprintf(`  - name: support
    bot_id: %s
    client_id: %s
    client_secret: %q
`, bot.ID, bot.ClientID, bot.ClientSecret)
	path := filepath.Join(t.TempDir(), "kore.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--config.file="+path)
	e.waitReady(60 * time.Second)
	fams := e.metrics()

	channels := map[string][]string{"support-web": {koretest.ChannelWeb}, "support-whatsapp": {koretest.ChannelWhatsApp}, "support": nil}
	sums := map[string]float64{}
	for _, j := range e.status() {
		if j.LastResult != "success" {
			t.Fatalf("%s: result %q, error %q", j.Bot, j.LastResult, j.LastError)
		}
		want := sim.Expected(bot.ID, j.WindowFrom, j.WindowTo, koretest.Filters{Channels: channels[j.Bot]})
		var sessions int64
		for _, r := range want {
			sessions += r.TotalSession
			l := map[string]string{"bot": j.Bot, "window": "24h", "task_name": r.TaskName, "task_type": r.TaskType, "status": r.Status}
			if got, ok := gauge(fams, "kore_task_sessions", l); !ok || got != float64(r.TotalSession) {
				t.Errorf("kore_task_sessions%v = %v (%v), want %d", l, got, ok, r.TotalSession)
			}
			if got, ok := gauge(fams, "kore_task_drop_off_sessions", l); !ok || got != float64(r.DropOffSessions) {
				t.Errorf("kore_task_drop_off_sessions%v = %v (%v), want %d", l, got, ok, r.DropOffSessions)
			}
		}
		if sessions == 0 {
			t.Fatalf("%s: the simulator has no sessions", j.Bot)
		}
		sums[j.Bot] = float64(sessions)
	}
	if len(sums) != 3 || sums["support-web"] == sums["support-whatsapp"] {
		t.Errorf("sessions per variant %v: want three jobs, and different numbers per channel", sums)
	}
	// The windows of the three jobs end at slightly different instants, so
	// the channels add up to the whole only approximately here; exactly in
	// the simulator's own tests.
	if d := sums["support-web"] + sums["support-whatsapp"] - sums["support"]; d < -0.01*sums["support"] || d > 0.01*sums["support"] {
		t.Errorf("web %v + whatsapp %v vs all %v", sums["support-web"], sums["support-whatsapp"], sums["support"])
	}
	for bot, labels := range map[string]map[string]string{
		"support-web":      {"team": "care", "env": "test"},
		"support-whatsapp": {"team": "messaging", "env": "test"},
		"support":          {"env": "test"},
	} {
		l := map[string]string{"bot": bot, "bot_id": koretest.DemoBots(1, 11)[0].ID, "host": sim.URL}
		for k, v := range labels {
			l[k] = v
		}
		if v, ok := gauge(fams, "kore_bot_info", l); !ok || v != 1 {
			t.Errorf("kore_bot_info%v missing", l)
		}
	}
	// One budget for the bot: every request was counted against one bot id.
	if s := sim.Stats(bot.ID); s.RateLimited != 0 || s.Submits < 3 {
		t.Errorf("simulator stats %+v", s)
	}
}
