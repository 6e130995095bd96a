// Alerting rules. Thresholds, volumes, `for` and severities come from
// config.libsonnet; docs/alerts.md has a runbook section per alert.
//
// Severities: `critical` pages, for what affects a whole bot (containment
// falling, traffic collapsed), a busy task, or a bot whose data is missing;
// `warning` for a task and for the pipeline's own troubles.
// Every alert about a bot carries the bots' static labels (config:
// botInfoLabels) for routing, joined on once here.
local lib = import 'lib.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local g = lib.by(c, []),
    local w(cfg) = 'window="%s"' % cfg.window,
    local envLinks = 'var-job={{ $labels.job | urlquery }}&var-namespace={{ $labels.namespace | urlquery }}',
    local taskLink = '%s/d/kore-task-drilldown?var-bot={{ $labels.bot | urlquery }}&var-task={{ $labels.task_name | urlquery }}&%s' % [c.grafanaURL, envLinks],
    local botLink = '%s/d/kore-oncall?var-bot={{ $labels.bot | urlquery }}&%s' % [c.grafanaURL, envLinks],
    local healthLink = '%s/d/kore-exporter-health?var-bot={{ $labels.bot | urlquery }}&%s' % [c.grafanaURL, envLinks],
    local taskSel = '{bot=%q,window=%q,task_name=%q,task_type=%q}',
    local taskValue(metric, fmt) = '{{ with printf `%s%s` $labels.bot $labels.window $labels.task_name $labels.task_type | query }}{{ . | first | value | %s }}{{ end }}' % [metric, taskSel, fmt],
    local botSel = '{bot=%q,window=%q}',
    local botValue(metric, fmt) = '{{ with printf `%s%s` $labels.bot $labels.window | query }}{{ . | first | value | %s }}{{ end }}' % [metric, botSel, fmt],

    local alert(name, expr, severity, summary, description, forDuration, link=null, routed=true, keep=false, labels={}) = {
      alert: name,
      expr: (if routed then lib.routed(c, expr) else expr),
      'for': forDuration,
      labels: { severity: severity } + labels,
      annotations: {
        summary: summary,
        description: std.strReplace(std.rstripChars(description, '\n'), '\n', ' '),
        runbook_url: lib.runbook(c, name),
      } + (if link != null then { dashboard_url: link } else {}),
    } + (if keep then { keep_firing_for: c.keepFiringFor } else {}),

    // The containment-falling test, shared by its session-level and
    // task-weighted rules.
    local falling(ratio, zscore, sameRatio, sum, sameSum) = |||
      %(ratio)s{%(w)s}
      and
      %(zscore)s{%(w)s} < -%(z)g
      and
      %(ratio)s{%(w)s} < %(sameRatio)s{%(w)s} - %(fall)g
      and
      %(sum)s{%(w)s} >= %(n)s
      and
      %(sameSum)s{%(w)s} >= %(n0)s
    ||| % { w: w(c.containmentFalling), z: c.containmentFalling.zScore, fall: c.containmentFalling.minFall,
            n: c.containmentFalling.minSessions, n0: c.containmentFalling.minBaselineSessions,
            ratio: ratio, zscore: zscore, sameRatio: sameRatio, sum: sum, sameSum: sameSum },

    // The drop-off rising test, shared by its warning rule (tasks below
    // criticalSessions sessions in the hour) and its critical rule (tasks
    // at or above): one alert per task and event, its severity by volume.
    local r = c.dropOffRising,
    local risingExpr(volume) = |||
      kore_bot_window_task:drop_off:ratio{%(w)s}
      and
      kore_bot_window_task:drop_off:same_time_zscore{%(w)s} > %(z)g
      and
      kore_bot_window_task:drop_off:ratio{%(w)s} - kore_bot_window_task:drop_off:same_time_ratio{%(w)s} > %(rise)g
      and
      %(volume)s
      and
      kore_bot_window_task:sessions:same_time_sum{%(w)s} >= %(n0)s
    ||| % { w: w(r), z: r.zScore, rise: r.minRise, volume: volume % w(r), n0: r.minBaselineSessions },
    local risingDescription = |||
      Drop-off of task "{{ $labels.task_name }}" ({{ $labels.task_type }}) of bot {{ $labels.bot }}
      is {{ $value | humanizePercentage }} over the last {{ $labels.window }}
      (%s sessions), against %s at this time of day over the previous days (%s sessions);
      z = %s.
    ||| % [
      taskValue('kore_bot_window_task:sessions:sum', 'humanize'),
      taskValue('kore_bot_window_task:drop_off:same_time_ratio', 'humanizePercentage'),
      taskValue('kore_bot_window_task:sessions:same_time_sum', 'humanize'),
      taskValue('kore_bot_window_task:drop_off:same_time_zscore', 'printf "%.1f"'),
    ],

    groups+: [
      {
        name: 'kore_task.alerts',
        rules: [
          alert('KoreTaskDropOffRising',
                risingExpr('kore_bot_window_task:sessions:sum{%%s} >= %d < %d' % [r.minSessions, r.criticalSessions]), 'warning',
                "A task's drop-off ratio is rising.", risingDescription, r['for'], taskLink, keep=true),
          alert('KoreTaskDropOffRising',
                risingExpr('kore_bot_window_task:sessions:sum{%%s} >= %d' % r.criticalSessions), 'critical',
                "A busy task's drop-off ratio is rising.", risingDescription, r['for'], taskLink, keep=true),

          local e = c.dropOffElevated;
          alert('KoreTaskDropOffElevated', |||
            kore_bot_window_task:drop_off:ratio{%(w)s}
            and
            kore_bot_window_task:drop_off:offset_1w_zscore{%(w)s} > %(z)g
            and
            kore_bot_window_task:drop_off:ratio{%(w)s} - kore_bot_window_task:drop_off:offset_1w_ratio{%(w)s} > %(rise)g
            and
            kore_bot_window_task:sessions:sum{%(w)s} >= %(n)s
            and
            kore_bot_window_task:sessions:offset_1w{%(w)s} >= %(n0)s
          ||| % { w: w(e), z: e.zScore, rise: e.minRise, n: e.minSessions, n0: e.minBaselineSessions }, 'warning',
                "A task's drop-off ratio has stayed above last week's.", |||
            Drop-off of task "{{ $labels.task_name }}" ({{ $labels.task_type }}) of bot {{ $labels.bot }}
            is {{ $value | humanizePercentage }} over the last {{ $labels.window }}
            (%s sessions), against %s over the same {{ $labels.window }} one week earlier (%s sessions).
          ||| % [
            taskValue('kore_bot_window_task:sessions:sum', 'humanize'),
            taskValue('kore_bot_window_task:drop_off:offset_1w_ratio', 'humanizePercentage'),
            taskValue('kore_bot_window_task:sessions:offset_1w', 'humanize'),
          ], e['for'], taskLink, keep=true),

          local h = c.dropOffHigh;
          alert('KoreTaskDropOffHigh', |||
            kore_bot_window_task:drop_off:ratio{%(w)s} > %(ratio)g
            and
            kore_bot_window_task:sessions:sum{%(w)s} >= %(n)s
          ||| % { w: w(h), ratio: h.ratio, n: h.minSessions }, 'warning',
                "A task's drop-off ratio is high.", |||
            {{ $value | humanizePercentage }} of the %s sessions of task "{{ $labels.task_name }}"
            ({{ $labels.task_type }}) of bot {{ $labels.bot }} dropped off over the last {{ $labels.window }}
            (threshold %s, at least %d sessions).
          ||| % [taskValue('kore_bot_window_task:sessions:sum', 'humanize'), '%g %%' % (h.ratio * 100), h.minSessions],
                h['for'], taskLink, keep=true),

          local nt = c.newTaskDropOff;
          alert('KoreTaskNewWithHighDropOff', |||
            kore_bot_window_task:drop_off:ratio{%(w)s} > %(ratio)g
            and
            kore_bot_window_task:sessions:sum{%(w)s} >= %(n)s
            unless
            kore_bot_window_task:sessions:same_time_sum{%(w)s}
            and on (%(botBy)s)
            kore_bot_window:task_sessions:same_time_sum{%(w)s}
          ||| % { w: w(nt), ratio: nt.ratio, n: nt.minSessions, botBy: lib.by(c, lib.bot) }, 'warning',
                'A new or renamed task has a high drop-off ratio.', |||
            Task "{{ $labels.task_name }}" ({{ $labels.task_type }}) of bot {{ $labels.bot }} had no sessions
            in the previous %d days, and {{ $value | humanizePercentage }} of its %s sessions over the last
            {{ $labels.window }} dropped off (threshold %s).
          ||| % [c.baselineDays, taskValue('kore_bot_window_task:sessions:sum', 'humanize'), '%g %%' % (nt.ratio * 100)],
                nt['for'], taskLink, keep=true),
        ],
      },
      {
        name: 'kore_bot.alerts',
        rules: [
          // Two rules, one alert: session-level (each session once, as
          // Kore.ai's dashboard counts) for a bot with the sessions report
          // and a session baseline, task-weighted for the others (a bot
          // that has just turned sessions on keeps the task-weighted alert
          // until its session history is long enough); the basis label
          // says which.
          local f = c.containmentFalling;
          alert('KoreBotContainmentFalling',
                falling('kore_bot_window:session_self_service:ratio', 'kore_bot_window:session_self_service:same_time_zscore',
                        'kore_bot_window:session_self_service:same_time_ratio', 'kore_bot_window:sessions:sum',
                        'kore_bot_window:sessions:same_time_sum'), 'critical',
                "A bot's containment (self-service ratio) is falling.", |||
            Only {{ $value | humanizePercentage }} of the sessions of bot {{ $labels.bot }} ended
            self-service over the last {{ $labels.window }} (%s sessions), against %s at this time of
            day over the previous days (each session counted once, as Kore.ai's Containment dashboard counts).
          ||| % [
            botValue('kore_bot_window:sessions:sum', 'humanize'),
            botValue('kore_bot_window:session_self_service:same_time_ratio', 'humanizePercentage'),
          ], f['for'], botLink, keep=true, labels={ basis: 'sessions' }),
          alert('KoreBotContainmentFalling',
                falling('kore_bot_window:task_self_service:ratio', 'kore_bot_window:task_self_service:same_time_zscore',
                        'kore_bot_window:task_self_service:same_time_ratio', 'kore_bot_window:task_sessions:sum',
                        'kore_bot_window:task_sessions:same_time_sum') + |||
                  unless on (%s)
                  kore_bot_window:sessions:same_time_sum{%s} >= %s
                ||| % [lib.by(c, lib.bot), w(c.containmentFalling), c.containmentFalling.minBaselineSessions], 'critical',
                "A bot's containment (self-service ratio) is falling.", |||
            Only {{ $value | humanizePercentage }} of the task sessions of bot {{ $labels.bot }} ended
            self-service over the last {{ $labels.window }} (%s task sessions), against %s at this time of
            day over the previous days (task-weighted: a session counts once per task it ran).
          ||| % [
            botValue('kore_bot_window:task_sessions:sum', 'humanize'),
            botValue('kore_bot_window:task_self_service:same_time_ratio', 'humanizePercentage'),
          ], c.containmentFalling['for'], botLink, keep=true, labels={ basis: 'task_weighted' }),

          local a = c.agentTransferSurge;
          alert('KoreBotAgentTransferSurge', |||
            kore_bot_window:task_agent_transfer_sessions:sum{%(w)s}
              > %(factor)g * kore_bot_window:task_agent_transfer_sessions:same_time_avg{%(w)s}
            and
            kore_bot_window:task_agent_transfer_sessions:sum{%(w)s}
              - kore_bot_window:task_agent_transfer_sessions:same_time_avg{%(w)s} >= %(inc)s
            and
            kore_bot_window:task_agent_transfer_sessions:sum{%(w)s}
              - kore_bot_window:task_agent_transfer_sessions:same_time_avg{%(w)s}
              > %(z)g * sqrt(kore_bot_window:task_agent_transfer_sessions:same_time_avg{%(w)s} + 1)
          ||| % { w: w(a), factor: a.factor, inc: a.minIncrease, z: a.zScore }, 'warning',
                'A bot hands many more sessions to human agents than usual.', |||
            {{ $value | humanize }} task sessions of bot {{ $labels.bot }} were handed to a human agent over
            the last {{ $labels.window }}, against %s on a usual day at this time.
          ||| % botValue('kore_bot_window:task_agent_transfer_sessions:same_time_avg', 'humanize'),
                a['for'], botLink, keep=true),

          local t = c.trafficCollapse;
          alert('KoreBotTrafficCollapsed', |||
            (
              kore_bot_window:task_sessions:sum{%(w)s}
              or on (%(botBy)s)
              0 * kore_bot_window:task_sessions:same_time_avg{%(w)s}
            )
            < %(ratio)g * kore_bot_window:task_sessions:same_time_avg{%(w)s}
            and
            kore_bot_window:task_sessions:same_time_avg{%(w)s} >= %(n)s
            and on (%(botBy)s)
            kore_exporter_report_success{%(w)s} == 1
          ||| % { w: w(t), ratio: t.ratio, n: t.minUsualSessions, botBy: lib.by(c, lib.bot) }, 'critical',
                "A bot's traffic has collapsed.", |||
            Bot {{ $labels.bot }} had {{ $value | humanize }} task sessions over the last {{ $labels.window }}
            (its report succeeds), against %s on a usual day at this time.
          ||| % botValue('kore_bot_window:task_sessions:same_time_avg', 'humanize'),
                t['for'], botLink),
        ],
      },
      {
        name: 'kore_exporter.alerts',
        rules: [
          local m = c.dataMissing;
          alert('KoreExporterDataMissing', |||
            (
              time() - kore_exporter_report_last_success_timestamp_seconds
              > %(n)s * kore_exporter_report_interval_seconds
            )
            or
            (
              kore_exporter_report_success == 0
              unless
              kore_exporter_report_last_success_timestamp_seconds
            )
          ||| % { n: m.intervals }, 'critical',
                "A bot's Kore.ai data is missing.", |||
            No report of bot {{ $labels.bot }}, window {{ $labels.window }}, on {{ $labels.instance }} has
            succeeded for more than %d of its intervals, or none has since the exporter started: its
            drop-off and containment alerts are blind. The last good numbers are served until stale_after,
            then its series disappear.
          ||| % m.intervals, m['for'], healthLink),

          alert('KoreExporterReportFailing', |||
            kore_exporter_report_success == 0
          |||, 'warning',
                'Kore.ai report runs are failing.', |||
            The last report run of bot {{ $labels.bot }}, window {{ $labels.window }}, on
            {{ $labels.instance }} failed, and none has succeeded for 15 minutes.
          |||, '15m', healthLink),

          alert('KoreExporterAPIBudgetNearLimit', |||
            sum by (%(g)s, bot_id) (
                increase(kore_exporter_api_requests_total[1h])
              * on (%(g)s, instance, bot) group_left (bot_id)
                group by (%(g)s, instance, bot, bot_id) (kore_bot_info)
            )
            > %(limit)g
          ||| % { g: g, limit: c.apiBudgetPerHour * c.apiBudgetWarnShare }, 'warning',
                'The exporter uses most of a bot id\'s Kore.ai API budget.', |||
            The exporter sent {{ $value | humanize }} Kore.ai API requests for bot id {{ $labels.bot_id }}
            over the last hour (all its configured variants together), against Kore.ai's limit of %d an hour
            per bot: close to the limit, runs will be throttled.
          ||| % c.apiBudgetPerHour, '15m', routed=false),

          alert('KoreExporterRateLimited', |||
            sum by (%(g)s, bot) (rate(kore_exporter_api_requests_total{code="429"}[15m]))
            /
            (sum by (%(g)s, bot) (rate(kore_exporter_api_requests_total[15m])) > 0)
            > 0.05
          ||| % { g: g }, 'warning',
                'Kore.ai is throttling the exporter.', |||
            {{ $value | humanizePercentage }} of the Kore.ai API requests for bot {{ $labels.bot }} were
            answered 429 (rate limited) over the last 15 minutes (threshold 5 %).
          |||, '30m', healthLink),

          alert('KoreExporterConfigReloadFailed', |||
            kore_exporter_config_last_reload_successful == 0
          |||, 'warning',
                "The exporter's last configuration reload failed.", |||
            {{ $labels.instance }} could not load its new configuration and keeps running the previous one.
          |||, '5m', routed=false),

          alert('KoreExporterDown', |||
            up{%s} == 0
          ||| % c.exporterSelector, 'critical',
                'The kore_exporter target is down.', |||
            Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for 5 minutes.
          |||, '5m', routed=false),

          alert('KoreExporterAbsent', |||
            absent(up{%s})
          ||| % c.exporterSelector, 'critical',
                'No kore_exporter target is known to Prometheus.', |||
            Prometheus has had no target matching {%s} for 5 minutes, so no Kore.ai alert can fire.
          ||| % c.exporterSelector, '5m', routed=false),
        ],
      },
    ],
  },
}
