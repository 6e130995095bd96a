package collector

import (
	"bytes"
	"fmt"
	"text/template"
)

// DemoBot is one simulated bot of --demo mode.
type DemoBot struct {
	Name, BotID, ClientID, ClientSecret string
}

// demoTemplate is the embedded configuration of --demo mode: three bots,
// windows 1h and 24h, short intervals, pointed at the in-process simulator.
// It goes through Parse like any user configuration.
var demoTemplate = template.Must(template.New("demo").Parse(`# kore_exporter --demo: the built-in simulated Kore.ai API.
defaults:
  host: {{.Host}}
  allow_insecure_http: true   # the simulator listens on loopback without TLS
  interval: 1m
  windows: [1h, 24h]
  timeout: 50s
  page_size: 500
bots:
{{- range .Bots}}
  - name: {{printf "%q" .Name}}
    bot_id: {{printf "%q" .BotID}}
    client_id: {{printf "%q" .ClientID}}
    client_secret: {{printf "%q" .ClientSecret}}
{{- end}}
limits:
  max_concurrent_jobs: 6
  requests_per_minute_per_bot: 30
`))

// DemoConfigYAML returns the demo configuration text for a simulator at host.
func DemoConfigYAML(host string, bots []DemoBot) ([]byte, error) {
	var buf bytes.Buffer
	if err := demoTemplate.Execute(&buf, struct {
		Host string
		Bots []DemoBot
	}{host, bots}); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return buf.Bytes(), nil
}

// DemoConfig returns the parsed demo configuration for a simulator at host.
func DemoConfig(host string, bots []DemoBot) (*Config, error) {
	data, err := DemoConfigYAML(host, bots)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return cfg, nil
}
