package deploy_test

import (
	"encoding/json"
	"fmt"
	"image/color"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The README's pictures of the dashboards, drawn from the proof's
// Prometheus (Grafana cannot run here) with gonum/plot:
//
//	cd deploy && KORE_PROOF_PICTURES=../dashboards go test -count=1 -run TestProofOnRealPrometheus .
//
// Each picture is one panel of a shipped dashboard: its queries are read
// from the dashboard's JSON, with the dashboard's variables at their
// current values except those the picture sets, and run over the minute
// or two in which the proof's Prometheus has evaluated the recording rules
// (the series the dashboards read begin there: backfilled history has no
// recorded series).
// Ratios are drawn in % on a 0-100 % axis, like the panels' percentunit.

// picture is one panel drawn into a PNG.
type picture struct {
	file, dashboard, panel string
	vars                   map[string]string // variables the picture sets
	yLabel                 string            // what the y axis counts, before its unit
}

// renderPictures draws the pictures of the surging task (bot, task) of the
// proof, from the start of the proof (from) to now; firedAt is when
// KoreTaskDropOffRising fired.
func renderPictures(t *testing.T, api promAPI, dir, bot, task string, from, firedAt time.Time) {
	t.Helper()
	now := time.Now()
	for _, pic := range []picture{
		{"dropoff-rising.png", "kore-task-drilldown", "Drop-off ratio against its baselines",
			map[string]string{"bot": regexp.QuoteMeta(bot), "task": task, "window": "1h"}, "drop-off ratio"},
		{"containment-per-bot.png", "kore-containment-overview", "Task self-service ratio by bot",
			map[string]string{"window": "24h"}, "task self-service ratio"},
		{"oncall-sessions.png", "kore-oncall", "Task sessions (1h) against last week",
			map[string]string{"bot": regexp.QuoteMeta(bot)}, "task sessions in the hour"},
	} {
		p, leg := drawPanel(t, api, pic, from, now)
		if pic.file == "dropoff-rising.png" {
			x := secondsBefore(firedAt, now)
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 100}})
			if err != nil {
				t.Fatal(err)
			}
			l.Color, l.Dashes = color.RGBA{R: 200, A: 255}, []vg.Length{vg.Points(4), vg.Points(2)}
			p.Add(l)
			leg.add("KoreTaskDropOffRising fired", l)
		}
		save(t, p, leg, filepath.Join(dir, pic.file))
	}
}

// picturePanel is what a picture reads of a dashboard panel.
type picturePanel struct {
	Title       string `json:"title"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options string `json:"options"`
			} `json:"matcher"`
			Properties []overrideProperty `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID  string `json:"refId"`
		Expr   string `json:"expr"`
		Legend string `json:"legendFormat"`
	} `json:"targets"`
}

// legend is a plot's legend, drawn under it rather than over its lines.
type legend struct {
	plot.Legend
	n int
}

func (l *legend) add(name string, th plot.Thumbnailer) { l.Add(name, th); l.n++ }

// drawPanel runs the queries of a dashboard panel over [from, to] and draws
// each series as a line named by the query's legend, in the line style the
// panel's overrides give it (dashed baselines, dotted red alert levels).
func drawPanel(t *testing.T, api promAPI, pic picture, from, to time.Time) (*plot.Plot, *legend) {
	t.Helper()
	raw := dashboardFiles(t)[pic.dashboard+".json"]
	var d struct {
		Templating struct {
			List []varJSON `json:"list"`
		} `json:"templating"`
		Panels []picturePanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = currentValue(v)
	}
	for k, v := range pic.vars {
		if _, ok := vars[k]; !ok {
			t.Fatalf("%s: %s has no variable %s", pic.file, pic.dashboard, k)
		}
		vars[k] = v
	}
	i := slices.IndexFunc(d.Panels, func(p picturePanel) bool {
		return p.Title == pic.panel
	})
	if i < 0 {
		t.Fatalf("%s: no panel %q in %s", pic.file, pic.panel, pic.dashboard)
	}
	panel := d.Panels[i]

	unit := panel.FieldConfig.Defaults.Unit
	scale, yLabel := 1.0, pic.yLabel
	switch unit {
	case "percentunit":
		scale, yLabel = 100, yLabel+" (%)"
	case "s":
		yLabel += " (s)"
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %q (%s)", dashboardTitle(t, raw), panel.Title, describeVars(pic.vars))
	p.X.Label.Text = "seconds before the end of the proof"
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	leg := &legend{Legend: plot.NewLegend()}
	leg.Top, leg.Left = true, true
	if unit == "percentunit" {
		p.Y.Min, p.Y.Max = 0, 100
		p.Y.Tick.Marker = percentTicks{}
	} else {
		p.Y.Min = 0
	}

	n := 0
	for _, target := range panel.Targets {
		res, err := api.queryRange(substitute(target.Expr, vars), from, to, 2*time.Second)
		if err != nil {
			t.Fatalf("%s: query %s: %v", pic.file, target.RefID, err)
		}
		slices.SortFunc(res, func(a, b series) int {
			return strings.Compare(legendText(target.Legend, a.Metric), legendText(target.Legend, b.Metric))
		})
		for _, s := range res {
			l := addLine(t, p, s, to, scale, n)
			leg.add(legendText(target.Legend, s.Metric), l)
			n++
			for _, o := range panel.FieldConfig.Overrides {
				if o.Matcher.ID != "byFrameRefID" || o.Matcher.Options != target.RefID {
					continue
				}
				for _, prop := range o.Properties {
					switch prop.ID {
					case "custom.lineStyle":
						var style struct {
							Dash []float64 `json:"dash"`
						}
						_ = json.Unmarshal(prop.Value, &style)
						l.Dashes = nil
						for _, dash := range style.Dash {
							l.Dashes = append(l.Dashes, vg.Points(dash/2))
						}
					case "color":
						l.Color = color.RGBA{R: 214, G: 39, B: 40, A: 255}
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: the panel's queries returned no series", pic.file)
	}
	if unit != "percentunit" {
		p.Y.Max *= 1.1 // room above the highest line
	}
	return p, leg
}

func dashboardTitle(t *testing.T, raw []byte) string {
	var d struct {
		Title string `json:"title"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d.Title
}

func describeVars(vars map[string]string) string {
	keys := slices.Sorted(maps.Keys(vars))
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%s", k, strings.ReplaceAll(vars[k], `\`, "")))
	}
	return strings.Join(parts, ", ")
}

var legendLabelRE = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legendText renders a Grafana legend format for a series' labels, as
// Grafana does: a missing label is empty.
func legendText(format string, labels map[string]string) string {
	s := legendLabelRE.ReplaceAllStringFunc(format, func(m string) string {
		return labels[legendLabelRE.FindStringSubmatch(m)[1]]
	})
	return strings.Join(strings.Fields(s), " ")
}

// percentTicks marks a 0-100 % axis every 20 %.
type percentTicks struct{}

func (percentTicks) Ticks(float64, float64) []plot.Tick {
	var ts []plot.Tick
	for v := 0.0; v <= 100; v += 10 {
		label := ""
		if math.Mod(v, 20) == 0 {
			label = fmt.Sprintf("%g %%", v)
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
	}
	return ts
}

func secondsBefore(at, now time.Time) float64 { return -now.Sub(at).Seconds() }

// addLine adds series s, its values times scale, to p as a line in the i-th
// colour.
func addLine(t *testing.T, p *plot.Plot, s series, now time.Time, scale float64, i int) *plotter.Line {
	t.Helper()
	var xys plotter.XYs
	for _, v := range s.Values {
		ts, _ := v[0].(float64)
		str, _ := v[1].(string)
		y, err := strconv.ParseFloat(str, 64)
		if err != nil || math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: secondsBefore(time.Unix(int64(ts), 0), now), Y: y * scale})
	}
	if len(xys) == 0 {
		t.Fatalf("%v: no points", s.Metric)
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		t.Fatal(err)
	}
	l.Color = plotColors[i%len(plotColors)]
	l.Width = vg.Points(1.5)
	p.Add(l)
	return l
}

var plotColors = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
	color.RGBA{R: 140, G: 86, B: 75, A: 255},
	color.RGBA{R: 23, G: 190, B: 207, A: 255},
}

// save writes p as a PNG, its legend under it.
func save(t *testing.T, p *plot.Plot, leg *legend, path string) {
	t.Helper()
	const w, h = 9 * vg.Inch, 4 * vg.Inch
	legendHeight := vg.Length(leg.n)*(leg.TextStyle.Font.Size+vg.Points(2)) + vg.Points(8)
	img := vgimg.New(w, h+legendHeight)
	c := draw.New(img)
	p.Draw(draw.Crop(c, 0, 0, legendHeight, 0))
	leg.Draw(draw.Crop(c, vg.Points(40), 0, 0, -h))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
