package report

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kore-exporter/kore_exporter/collector/config"
	"github.com/kore-exporter/kore_exporter/kore"
	"github.com/kore-exporter/kore_exporter/kore/koretest"
)

// TestKoreClientsShareConnections: the clients of many bots on one host
// share one pool of connections: running every bot's report one after the
// other opens one connection, not one per bot.
func TestKoreClientsShareConnections(t *testing.T) {
	t.Parallel()
	sim := koretest.NewInMemory(koretest.WithJobDuration(0))
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(sim.Handler())
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	budgets, err := kore.NewBudgets(30)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKoreClients()
	const bots = 20
	for i, b := range koretest.DemoBots(bots, 3) {
		sim.AddBot(b)
		c, err := k.New(config.Bot{Name: b.Name, BotID: b.ID, ClientID: b.ClientID, ClientSecret: config.Secret(b.ClientSecret),
			Host: srv.URL, AllowInsecureHTTP: true}, budgets, kore.NopObserver{})
		if err != nil {
			t.Fatalf("bot %d: %v", i, err)
		}
		to := time.Now().UTC().Truncate(time.Hour)
		if _, err := c.RunContainmentReport(t.Context(), b.ID, kore.ReportRequest{From: to.Add(-time.Hour), To: to}); err != nil {
			t.Fatalf("bot %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d bots opened %d connections one after the other, want 1 (one shared pool)", bots, n)
	}
}
