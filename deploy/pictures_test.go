package deploy_test

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The README's pictures, rendered from the proof's Prometheus (Grafana
// cannot run here) with gonum/plot:
//
//	cd deploy && KORE_PROOF_PICTURES=../dashboards go test -count=1 -run TestProofOnRealPrometheus .
//
// Backfilled points are 1 h apart, so every query reads the raw series
// through last_over_time(...[1h]), as the rules and dashboards do.

// renderPictures writes dropoff-rising.png (the surging task's drop-off
// ratio against its 1-day and 1-week baselines, and when the alert fired)
// and containment-per-bot.png (each bot's self-service ratio over 8 days).
func renderPictures(t *testing.T, api promAPI, dir, bot, task string, firedAt time.Time) {
	t.Helper()
	now := time.Now()
	sel := fmt.Sprintf(`{bot=%q,window="1h",task_name=%q}`, bot, task)
	ratio := func(offset string) string {
		return fmt.Sprintf(`sum(last_over_time(kore_task_drop_off_sessions%s[1h]%s)) / sum(last_over_time(kore_task_sessions%s[1h]%s))`, sel, offset, sel, offset)
	}
	p := newPlot(fmt.Sprintf("Drop-off of %q (bot %s, 1h window)", task, bot), "drop-off ratio")
	for i, line := range []struct{ name, expr string }{
		{"now", ratio("")},
		{"1 day earlier", ratio(" offset 1d")},
		{"1 week earlier", ratio(" offset 1w")},
	} {
		res, err := api.queryRange(line.expr, now.Add(-12*time.Hour), now, 5*time.Minute)
		if err != nil || len(res) != 1 {
			t.Fatalf("%s: %v, %d series", line.name, err, len(res))
		}
		addLine(t, p, line.name, res[0], now, i)
	}
	fired := plotter.XYs{{X: hoursBefore(firedAt, now), Y: 0}, {X: hoursBefore(firedAt, now), Y: 1}}
	l, err := plotter.NewLine(fired)
	if err != nil {
		t.Fatal(err)
	}
	l.Color, l.Dashes = color.RGBA{R: 200, A: 255}, []vg.Length{vg.Points(4), vg.Points(2)}
	p.Add(l)
	p.Legend.Add("KoreTaskDropOffRising fired", l)
	p.Y.Min, p.Y.Max = 0, 1
	save(t, p, filepath.Join(dir, "dropoff-rising.png"))

	q := newPlot("Self-service ratio per bot (24h window)", "self-service ratio")
	res, err := api.queryRange(`sum by (bot) (last_over_time(kore_task_self_service_sessions{window="24h"}[1h])) / sum by (bot) (last_over_time(kore_task_sessions{window="24h"}[1h]))`,
		now.Add(-8*24*time.Hour), now, time.Hour)
	if err != nil || len(res) == 0 {
		t.Fatalf("containment per bot: %v, %d series", err, len(res))
	}
	slices.SortFunc(res, func(a, b series) int { return cmpStr(a.Metric["bot"], b.Metric["bot"]) })
	for i, s := range res {
		addLine(t, q, s.Metric["bot"], s, now, i)
	}
	q.Legend.Top = false
	save(t, q, filepath.Join(dir, "containment-per-bot.png"))
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func newPlot(title, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "hours before the end of the proof"
	p.Y.Label.Text = y
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p
}

func hoursBefore(at, now time.Time) float64 { return -now.Sub(at).Hours() }

// addLine adds series s to p as a line named name, in the i-th color.
func addLine(t *testing.T, p *plot.Plot, name string, s series, now time.Time, i int) {
	t.Helper()
	var xys plotter.XYs
	for _, v := range s.Values {
		ts, _ := v[0].(float64)
		str, _ := v[1].(string)
		y, err := strconv.ParseFloat(str, 64)
		if err != nil {
			continue
		}
		xys = append(xys, plotter.XY{X: hoursBefore(time.Unix(int64(ts), 0), now), Y: y})
	}
	if len(xys) == 0 {
		t.Fatalf("%s: no points", name)
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		t.Fatal(err)
	}
	l.Color = plotColors[i%len(plotColors)]
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
}

var plotColors = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
}

func save(t *testing.T, p *plot.Plot, path string) {
	t.Helper()
	p.Legend.YOffs = -vg.Points(4)
	p.Legend.Padding = vg.Points(2)
	if err := p.Save(9*vg.Inch, 4*vg.Inch, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("%s not written: %v", path, err)
	}
	t.Logf("wrote %s", path)
}
