package main

import (
	"bytes"
	"fmt"
	"text/template"

	"github.com/kore-exporter/kore_exporter/collector/config"
)

// demoBot is one simulated bot of --demo mode.
type demoBot struct {
	Name, BotID, ClientID, ClientSecret string
}

// demoTemplate is the embedded configuration of --demo mode: three bots,
// windows 1h and 24h, short intervals, pointed at the in-process simulator.
// The sessions report is on for the two smaller bots (the first, busiest
// one, with about 10,000 sessions in its busiest hour, would take over an
// hour to rebuild its 24h window within the budget at each start).
// It goes through config.Parse like any user configuration.
var demoTemplate = template.Must(template.New("demo").Parse(`# kore_exporter --demo: the built-in simulated Kore.ai API.
defaults:
  host: {{.Host}}
  allow_insecure_http: true   # the simulator listens on loopback without TLS
  interval: 1m
  windows: [1h, 24h]
  timeout: 50s
  page_size: 500
bots:
{{- range $i, $b := .Bots}}
  - name: {{printf "%q" $b.Name}}
    bot_id: {{printf "%q" $b.BotID}}
    client_id: {{printf "%q" $b.ClientID}}
    client_secret: {{printf "%q" $b.ClientSecret}}
{{- if $i}}
    sessions: {enabled: true, peak_per_hour: 500}   # session-level containment too
{{- end}}
{{- end}}
limits:
  max_concurrent_jobs: 6
  requests_per_minute_per_bot: 30
`))

// demoConfig returns the parsed demo configuration for a simulator at host.
func demoConfig(host string, bots []demoBot) (*config.Config, error) {
	var buf bytes.Buffer
	if err := demoTemplate.Execute(&buf, struct {
		Host string
		Bots []demoBot
	}{host, bots}); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	cfg, err := config.Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return cfg, nil
}
