package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kore-exporter/kore_exporter/kore"
)

func TestDataCollector(t *testing.T) {
	t.Parallel()
	s := NewStore()
	s.SetBots([]BotInfo{
		{Name: "support", BotID: "st-1", Host: "https://platform.kore.ai", Labels: map[string]string{"team": "care", "env": "prod"}},
		{Name: "support-whatsapp", BotID: "st-1", Host: "https://platform.kore.ai"},
	})
	s.Publish("support", "24h", []kore.TaskRow{
		{TaskName: "Book Flight", TaskType: "Dialog", Status: "success", TotalExecution: 120, TotalSession: 100, SelfServiceSessions: 80, DropOffSessions: 15, AgentTransferSessions: 5},
		{TaskName: "Book Flight", TaskType: "Dialog", Status: "failtask", TotalExecution: 12, TotalSession: 10, SelfServiceSessions: 0, DropOffSessions: 7, AgentTransferSessions: 3},
	}, t0, t0.Add(time.Hour))

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewDataCollector(s))
	const want = `
# HELP kore_bot_info Configured Kore.ai bot: bot is the configured name, bot_id the Kore.ai bot id, host the API host; constant 1.
# TYPE kore_bot_info gauge
kore_bot_info{bot="support",bot_id="st-1",env="prod",host="https://platform.kore.ai",team="care"} 1
kore_bot_info{bot="support-whatsapp",bot_id="st-1",host="https://platform.kore.ai"} 1
# HELP kore_task_agent_transfer_sessions Task sessions transferred to a human agent in the rolling window, from the last finished Kore.ai Task Execution-Based Containment Report job (cached; not fetched at scrape time).
# TYPE kore_task_agent_transfer_sessions gauge
kore_task_agent_transfer_sessions{bot="support",status="failtask",task_name="Book Flight",task_type="Dialog",window="24h"} 3
kore_task_agent_transfer_sessions{bot="support",status="success",task_name="Book Flight",task_type="Dialog",window="24h"} 5
# HELP kore_task_drop_off_sessions Task sessions that dropped off (the user left) in the rolling window, from the last finished Kore.ai Task Execution-Based Containment Report job (cached; not fetched at scrape time).
# TYPE kore_task_drop_off_sessions gauge
kore_task_drop_off_sessions{bot="support",status="failtask",task_name="Book Flight",task_type="Dialog",window="24h"} 7
kore_task_drop_off_sessions{bot="support",status="success",task_name="Book Flight",task_type="Dialog",window="24h"} 15
# HELP kore_task_executions Task executions in the rolling window, from the last finished Kore.ai Task Execution-Based Containment Report job (cached; not fetched at scrape time).
# TYPE kore_task_executions gauge
kore_task_executions{bot="support",status="failtask",task_name="Book Flight",task_type="Dialog",window="24h"} 12
kore_task_executions{bot="support",status="success",task_name="Book Flight",task_type="Dialog",window="24h"} 120
# HELP kore_task_self_service_sessions Task sessions that ended self-service (contained) in the rolling window, from the last finished Kore.ai Task Execution-Based Containment Report job (cached; not fetched at scrape time).
# TYPE kore_task_self_service_sessions gauge
kore_task_self_service_sessions{bot="support",status="failtask",task_name="Book Flight",task_type="Dialog",window="24h"} 0
kore_task_self_service_sessions{bot="support",status="success",task_name="Book Flight",task_type="Dialog",window="24h"} 80
# HELP kore_task_sessions Conversation sessions in which the task ran in the rolling window, from the last finished Kore.ai Task Execution-Based Containment Report job (cached; not fetched at scrape time).
# TYPE kore_task_sessions gauge
kore_task_sessions{bot="support",status="failtask",task_name="Book Flight",task_type="Dialog",window="24h"} 10
kore_task_sessions{bot="support",status="success",task_name="Book Flight",task_type="Dialog",window="24h"} 100
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(NewDataCollector(s), strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	// Expired parts vanish from the collector too.
	s.Sweep(t0.Add(time.Hour))
	if n := testutil.CollectAndCount(NewDataCollector(s)); n != 2 {
		t.Errorf("after Sweep: %d series, want only kore_bot_info", n)
	}
}

// TestDataCollectorTricky gathers label values that need escaping or repair
// on a pedantic registry, which checks them against the descriptors.
func TestDataCollectorTricky(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	c := NewDataCollector(trickyStore(t))
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != numFamilies {
		t.Errorf("%d families, want %d", len(mfs), numFamilies)
	}
	if got, want := testutil.CollectAndCount(c), trickyStore(t).Load().Series(); got != want {
		t.Errorf("collected %d series, Series() says %d", got, want)
	}
}
