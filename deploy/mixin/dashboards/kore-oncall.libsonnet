// Kore.ai on call: the wall dashboard the bot alerts link to
// (/d/kore-oncall?var-bot=…&var-job=…&var-namespace=…). It shows whether the
// data is fresh, which alerts fire, and each alert's own series against the
// level at which it fires, all from the recorded series the alerts read and
// with the thresholds of config.libsonnet.
local d = import 'common.libsonnet';

function(c)
  local env = d.sel(c);
  local at(window, matchers=[]) = d.sel(c, ['bot=~"$bot"', 'window="%s"' % window] + matchers);
  local botBy = d.by(c, ['bot', 'window']);
  local botLegend(what) = d.legend(c, '{{bot}} ' + what);
  local taskLegend(what) = d.legend(c, '{{bot}} / {{task_name}} ' + what);
  local r = c.dropOffRising;
  local h = c.dropOffHigh;
  local e = c.dropOffElevated;
  local f = c.containmentFalling;
  local a = c.agentTransferSurge;
  local t = c.trafficCollapse;
  local m = c.dataMissing;

  // The tasks whose drop-off is furthest above its usual level, among
  // those with the volume KoreTaskDropOffRising needs.
  local rising = |||
    topk(5,
        kore_bot_window_task:drop_off:ratio%(s)s
      - kore_bot_window_task:drop_off:same_time_ratio%(s)s
      and
      kore_bot_window_task:sessions:sum%(s)s >= %(n)d
    )
  ||| % { s: at(r.window), n: r.minSessions };

  // The bots KoreBotContainmentFalling judges by their sessions: those with
  // enough session history; its task-weighted rule takes the others.
  local sessionBased = 'unless on (%s)\n(kore_bot_window:sessions:same_time_sum%s >= %d)' % [botBy, at(c.containmentFalling.window), c.containmentFalling.minBaselineSessions];

  // A bot's count one week earlier, from the raw series like the rules'
  // offset_1w (history imported with kore_exporter backfill serves too).
  local lastWeek(metric, window) =
    'sum by (%s) (last_over_time(%s%s[%s] offset 1w))' % [botBy, metric, at(window), c.baselineLookback];

  local taskTable(title, description, grid, window, targets, columns, overrides, sortBy) =
    d.table(title, description, grid, targets,
            columns={ bot: 'Bot', task_name: 'Task', task_type: 'Type', window: 'Window' } + columns,
            order=['bot', 'task_name', 'task_type'] + std.objectFields(columns) + ['window'] + d.envLabels(c),
            overrides=[d.column('Task', [{ id: 'links', value: [d.drilldownLink(c, 'table', window)] }])] + overrides,
            sortBy=sortBy);

  d.dashboard(
    'kore-oncall',
    'Kore.ai on call',
    'The wall dashboard of the Kore.ai alerts, which link here: is the data fresh, which alerts fire, and each alert\'s series against the level where it fires (thresholds from the kore_exporter mixin\'s config.libsonnet), with the tasks to drill into.',
    d.envVariables(c) + [d.botVariable(c)],
    [
      d.table('Kore alerts now',
              'Every firing or pending Kore alert of the selected environments and bots, and those about no bot (the exporter\'s own), from Prometheus\' ALERTS series: what Alertmanager is told now. Click a task to drill into it.',
              d.grid(0, 0, 14, 8),
              [d.target('ALERTS%s' % d.sel(c, ['alertname=~"Kore.*"', 'bot=~"$bot|"']), instant=true, table=true)],
              columns={
                alertstate: 'State',
                severity: 'Severity',
                alertname: 'Alert',
                bot: 'Bot',
                window: 'Window',
                task_name: 'Task',
                task_type: 'Type',
              },
              order=['alertstate', 'severity', 'alertname', 'bot', 'window', 'task_name', 'task_type'] + d.envLabels(c),
              hide=['Value', 'Value #A'],
              overrides=[
                d.column('State', [
                  { id: 'mappings', value: [{ type: 'value', options: {
                    firing: { color: 'red', index: 0 },
                    pending: { color: 'orange', index: 1 },
                  } }] },
                  { id: 'custom.cellOptions', value: { type: 'color-background' } },
                ]),
                d.column('Severity', [
                  { id: 'mappings', value: [{ type: 'value', options: {
                    critical: { color: 'red', index: 0 },
                    warning: { color: 'orange', index: 1 },
                  } }] },
                  { id: 'custom.cellOptions', value: { type: 'color-text' } },
                ]),
                d.column('Task', [{ id: 'links', value: [d.drilldownLink(c, 'table')] }]),
              ],
              sortBy='Severity', desc=false),
      d.stat('Data age, in intervals of its job',
             'Per bot × window: the time since its last successful report (time() - kore_exporter_report_last_success_timestamp_seconds) divided by the job\'s own interval (kore_exporter_report_interval_seconds): below about 1 while reports succeed. Red from %d intervals, where KoreExporterDataMissing fires (after %s): the numbers here are then old and the bot\'s drop-off and containment alerts blind. A job that never succeeded has no age; its alert is in the table.' % [m.intervals, m['for']],
             d.grid(14, 0, 10, 8),
             [d.target(|||
               (time() - max by (%(by)s) (kore_exporter_report_last_success_timestamp_seconds%(s)s))
               /
               max by (%(by)s) (kore_exporter_report_interval_seconds%(s)s)
             ||| % { by: botBy, s: d.sel(c, ['bot=~"$bot"']) }, d.legend(c, '{{bot}} {{window}}'), instant=true)],
             'none', [[m.intervals, 'red']], 'green', min=0, decimals=1, textMode='value_and_name', graphMode='none'),

      d.timeseries('Drop-off ratio of the fastest-rising tasks (%s) against their usual' % r.window,
                   'The 5 tasks whose drop-off ratio over the %(w)s window is furthest above its usual level at this time of day, among tasks with at least %(n)d sessions: the ratio (kore_bot_window_task:drop_off:ratio, solid) and the usual level (kore_bot_window_task:drop_off:same_time_ratio: the previous %(days)d days at this time, pooled, dashed). KoreTaskDropOffRising fires when the gap exceeds %(rise)s with z > %(z)g and at least %(n0)d sessions in the pool; the table below has the numbers. Click a line to drill into its task.' % {
                     w: r.window,
                     n: r.minSessions,
                     days: c.baselineDays,
                     rise: d.pct(r.minRise),
                     z: r.zScore,
                     n0: r.minBaselineSessions,
                   },
                   d.grid(0, 8, 12, 9),
                   [
                     d.target('kore_bot_window_task:drop_off:ratio%s\nand\n%s' % [at(r.window), rising], taskLegend('now')),
                     d.target('kore_bot_window_task:drop_off:same_time_ratio%s\nand\n%s' % [at(r.window), rising], taskLegend('usual')),
                   ],
                   'percentunit', overrides=[d.dashed('B')], links=[d.drilldownLink(c, 'series')]),
      d.timeseries('Self-service ratio (%s) against its usual' % f.window,
                   'Per bot, what KoreBotContainmentFalling reads: the share of sessions that ended self-service over the %(w)s window (solid), its usual level at this time of day (dashed) and that level minus %(fall)s (dotted red). Session-level (kore_bot_window:session_self_service:ratio, each session once, as Kore.ai\'s Containment dashboard counts) for a bot with the sessions report and at least %(n0)d sessions in its pool; task-weighted (kore_bot_window:task_self_service:ratio, a session once per task it ran) for the others. The alert pages when the ratio is below the dotted line with z < -%(z)g, at least %(n)d sessions now and %(n0)d in the pool.' % {
                     w: f.window,
                     fall: d.pct(f.minFall),
                     z: f.zScore,
                     n: f.minSessions,
                     n0: f.minBaselineSessions,
                   },
                   d.grid(12, 8, 12, 9),
                   [
                     d.target('kore_bot_window:session_self_service:ratio' + at(f.window), botLegend('now (sessions)')),
                     d.target('kore_bot_window:session_self_service:same_time_ratio' + at(f.window), botLegend('usual (sessions)')),
                     d.target('kore_bot_window:session_self_service:same_time_ratio%s - %g' % [at(f.window), f.minFall], botLegend('alert level (sessions)')),
                     d.target('kore_bot_window:task_self_service:ratio%s\n%s' % [at(f.window), sessionBased], botLegend('now (task-weighted)')),
                     d.target('kore_bot_window:task_self_service:same_time_ratio%s\n%s' % [at(f.window), sessionBased], botLegend('usual (task-weighted)')),
                     d.target('kore_bot_window:task_self_service:same_time_ratio%s - %g\n%s' % [at(f.window), f.minFall, sessionBased], botLegend('alert level (task-weighted)')),
                   ],
                   'percentunit', overrides=[d.dashed('B'), d.level('C'), d.dashed('E'), d.level('F')]),

      d.timeseries('Task sessions (%s) against last week' % t.window,
                   'Per bot: task sessions over the %(w)s window (kore_bot_window:task_sessions:sum, solid), the same one week earlier (dashed), the usual count at this time of day (kore_bot_window:task_sessions:same_time_avg: the mean of the previous days at this time, dash-dotted) and %(ratio)s of it (dotted red). KoreBotTrafficCollapsed pages when the sessions fall below the dotted line while the bot\'s reports succeed and its usual count is at least %(n)d.' % {
                     w: t.window,
                     ratio: d.pct(t.ratio),
                     n: t.minUsualSessions,
                   },
                   d.grid(0, 17, 12, 9),
                   [
                     d.target('kore_bot_window:task_sessions:sum' + at(t.window), botLegend('now')),
                     d.target(lastWeek('kore_task_sessions', t.window), botLegend('a week earlier')),
                     d.target('kore_bot_window:task_sessions:same_time_avg' + at(t.window), botLegend('usual')),
                     d.target('%g * kore_bot_window:task_sessions:same_time_avg%s' % [t.ratio, at(t.window)], botLegend('alert level')),
                   ],
                   'short', min=0,
                   overrides=[d.dashed('B'), {
                     matcher: { id: 'byFrameRefID', options: 'C' },
                     properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 4, 2, 4] } }],
                   }, d.level('D')]),
      d.timeseries('Agent transfers (%s) against last week' % a.window,
                   'Per bot: task sessions handed to a human agent over the %(w)s window (kore_bot_window:task_agent_transfer_sessions:sum, solid), the same one week earlier (dashed), the usual count at this time of day (kore_bot_window:task_agent_transfer_sessions:same_time_avg, dash-dotted) and the level KoreBotAgentTransferSurge needs (dotted red): the highest of %(factor)g × the usual count, the usual count + %(inc)d, and the usual count + %(z)g Poisson standard deviations.' % {
                     w: a.window,
                     factor: a.factor,
                     inc: a.minIncrease,
                     z: a.zScore,
                   },
                   d.grid(12, 17, 12, 9),
                   [
                     d.target('kore_bot_window:task_agent_transfer_sessions:sum' + at(a.window), botLegend('now')),
                     d.target(lastWeek('kore_task_agent_transfer_sessions', a.window), botLegend('a week earlier')),
                     d.target('kore_bot_window:task_agent_transfer_sessions:same_time_avg' + at(a.window), botLegend('usual')),
                     d.target(|||
                       max by (%(by)s) (
                           label_replace(%(factor)g * %(usual)s, "bound", "factor", "", "")
                         or
                           label_replace(%(usual)s + %(inc)d, "bound", "increase", "", "")
                         or
                           label_replace(%(usual)s + %(z)g * sqrt(%(usual)s + 1), "bound", "z", "", "")
                       )
                     ||| % {
                       by: botBy,
                       usual: 'kore_bot_window:task_agent_transfer_sessions:same_time_avg' + at(a.window),
                       factor: a.factor,
                       inc: a.minIncrease,
                       z: a.zScore,
                     }, botLegend('alert level')),
                   ],
                   'short', min=0,
                   overrides=[d.dashed('B'), {
                     matcher: { id: 'byFrameRefID', options: 'C' },
                     properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 4, 2, 4] } }],
                   }, d.level('D')]),

      taskTable('Tasks by drop-off rise (%s)' % r.window,
                'Every task of the selected bots over the %(w)s window, by how far its drop-off ratio is above its usual level at this time of day (the previous %(days)d days, pooled): what KoreTaskDropOffRising tests. Red: a rise above %(rise)s, z above %(z)g; the alert also needs at least %(n)d sessions (%(nc)d for critical) and %(n0)d in the pool. Click a task to drill into it.' % {
                  w: r.window,
                  days: c.baselineDays,
                  rise: d.pct(r.minRise),
                  z: r.zScore,
                  n: r.minSessions,
                  nc: r.criticalSessions,
                  n0: r.minBaselineSessions,
                },
                d.grid(0, 26, 12, 10), r.window,
                [
                  d.target('kore_bot_window_task:drop_off:ratio' + at(r.window), instant=true, table=true),
                  d.target('kore_bot_window_task:drop_off:same_time_ratio' + at(r.window), instant=true, table=true),
                  d.target('kore_bot_window_task:drop_off:ratio%s\n- kore_bot_window_task:drop_off:same_time_ratio%s' % [at(r.window), at(r.window)], instant=true, table=true),
                  d.target('kore_bot_window_task:drop_off:same_time_zscore' + at(r.window), instant=true, table=true),
                  d.target('kore_bot_window_task:sessions:sum' + at(r.window), instant=true, table=true),
                  d.target('kore_bot_window_task:sessions:same_time_sum' + at(r.window), instant=true, table=true),
                ],
                {
                  'Value #A': 'Drop-off',
                  'Value #B': 'Usual',
                  'Value #C': 'Rise',
                  'Value #D': 'z',
                  'Value #E': 'Sessions',
                  'Value #F': 'Pool sessions',
                },
                [
                  d.column('Drop-off', [{ id: 'unit', value: 'percentunit' }]),
                  d.column('Usual', [{ id: 'unit', value: 'percentunit' }]),
                  d.colouredColumn('Rise', 'percentunit', [[r.minRise, 'red']]),
                  d.colouredColumn('z', 'none', [[r.zScore, 'red']]) + { properties+: [{ id: 'decimals', value: 1 }] },
                ],
                'Rise'),
      taskTable('Tasks by drop-off (%s)' % h.window,
                'Every task of the selected bots over the %(w)s window, by drop-off ratio, with the same window one week earlier: what KoreTaskDropOffHigh, KoreTaskNewWithHighDropOff and KoreTaskDropOffElevated test. Drop-off: %(colours)s Rise against a week earlier red above %(rise)s and z above %(z)g (KoreTaskDropOffElevated, on the %(ew)s window, with at least %(en)d sessions in both weeks). Click a task to drill into it.' % {
                  w: h.window,
                  colours: d.dropOffColours(c),
                  rise: d.pct(e.minRise),
                  z: e.zScore,
                  ew: e.window,
                  en: e.minSessions,
                },
                d.grid(12, 26, 12, 10), h.window,
                [
                  d.target('kore_bot_window_task:drop_off:ratio' + at(h.window), instant=true, table=true),
                  d.target('kore_bot_window_task:drop_off:offset_1w_ratio' + at(e.window), instant=true, table=true),
                  d.target('kore_bot_window_task:drop_off:ratio%s\n- kore_bot_window_task:drop_off:offset_1w_ratio%s' % [at(e.window), at(e.window)], instant=true, table=true),
                  d.target('kore_bot_window_task:drop_off:offset_1w_zscore' + at(e.window), instant=true, table=true),
                  d.target('kore_bot_window_task:sessions:sum' + at(h.window), instant=true, table=true),
                ],
                {
                  'Value #A': 'Drop-off',
                  'Value #B': 'A week earlier',
                  'Value #C': 'Rise',
                  'Value #D': 'z',
                  'Value #E': 'Sessions',
                },
                [
                  d.colouredColumn('Drop-off', 'percentunit', d.dropOffSteps(c)),
                  d.column('A week earlier', [{ id: 'unit', value: 'percentunit' }]),
                  d.colouredColumn('Rise', 'percentunit', [[e.minRise, 'red']]),
                  d.colouredColumn('z', 'none', [[e.zScore, 'red']]) + { properties+: [{ id: 'decimals', value: 1 }] },
                ],
                'Drop-off'),
      d.timeseries('Session self-service ratio by channel (%s)' % f.window,
                   'Per bot with the sessions report and channel: kore_bot_window_channel:session_self_service:ratio over the %s window, each session counted once: which channel moved when the bot\'s containment falls.' % f.window,
                   d.grid(0, 36, 24, 8),
                   [d.target('kore_bot_window_channel:session_self_service:ratio' + at(f.window), d.legend(c, '{{bot}} / {{channel}}'))], 'percentunit'),
    ],
    from='now-6h',
    refresh='1m',
  )
