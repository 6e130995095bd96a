// Kore.ai task drill-down: one task across windows and outcomes, against
// the baselines its alerts compare it with. The alerts about a task link
// here (var-bot, var-task, var-job, var-namespace).
local d = import 'common.libsonnet';

function(c)
  local task = d.sel(c, ['bot=~"$bot"', 'window=~"$window"', 'task_name="$task"']);
  local failed = d.sel(c, ['bot=~"$bot"', 'window=~"$window"', 'task_name="$task"', 'status="failtask"']);
  local byWindow = d.by(c, ['bot', 'window']);
  local byStatus = d.by(c, ['bot', 'window', 'status']);
  local r = c.dropOffRising;
  local e = c.dropOffElevated;

  // ratio(m, by): m sessions / sessions of the task from the raw series:
  // the recorded series have no status.
  local ratio(m, by, s=task) = |||
    sum by (%(by)s) (kore_task_%(m)s_sessions%(s)s)
    /
    (sum by (%(by)s) (kore_task_sessions%(s)s) > 0)
  ||| % { m: m, by: by, s: s };
  local statusRatio(title, m, what) =
    d.timeseries(title,
                 '%s sessions / sessions of the task, per window and outcome (success vs failtask), from the raw kore_task_* series (the recorded ones have no status).' % what,
                 null, [d.target(ratio(m, byStatus), d.legend(c, '{{bot}} {{window}} {{status}}'))], 'percentunit');

  d.dashboard(
    'kore-task-drilldown',
    'Kore.ai task drill-down',
    'One Kore.ai task across report windows and outcomes (success vs failtask): sessions, executions, self-service, drop-off and agent-transfer ratios, and its drop-off against the baselines its alerts compare it with. The task alerts link here.',
    d.envVariables(c) + [
      d.botVariable(c),
      d.windowVariable(c, true),
      d.taskVariable(c, false, 'The task to drill into.'),
    ],
    [
      d.stat('Sessions',
             'Sessions of the task per bot and window (kore_bot_window_task:sessions:sum, both statuses), from the last finished report.',
             d.grid(0, 0, 8, 4),
             [d.target('sum by (%s) (kore_bot_window_task:sessions:sum%s)' % [byWindow, task], d.legend(c, '{{bot}} {{window}}'))], 'short'),
      d.stat('Failed share',
             'Share of the task\'s sessions whose outcome was failtask, per bot and window.',
             d.grid(8, 0, 8, 4),
             [d.target(|||
               sum by (%(by)s) (kore_task_sessions%(failed)s)
               /
               (sum by (%(by)s) (kore_task_sessions%(task)s) > 0)
             ||| % { by: byWindow, failed: failed, task: task }, d.legend(c, '{{bot}} {{window}}'))], 'percentunit'),
      d.stat('Drop-off ratio',
             'Drop-off sessions / sessions of the task per bot and window, both statuses (kore_bot_window_task:drop_off:ratio). %s' % d.dropOffColours(c),
             d.grid(16, 0, 8, 4),
             [d.target('kore_bot_window_task:drop_off:ratio' + task, d.legend(c, '{{bot}} {{window}}'))], 'percentunit', d.dropOffSteps(c)),

      d.timeseries('Drop-off ratio against its baselines',
                   'The task\'s drop-off ratio now (kore_bot_window_task:drop_off:ratio, solid), its usual level at this time of day (kore_bot_window_task:drop_off:same_time_ratio: the previous %(days)d days at this time, pooled, dashed) and over the same window one week earlier (kore_bot_window_task:drop_off:offset_1w_ratio, dotted). KoreTaskDropOffRising fires when on the %(rw)s window the ratio is more than %(rrise)s above its usual level with z > %(rz)g, at least %(rn)d sessions now and %(rn0)d in the pool; KoreTaskDropOffElevated when on the %(ew)s window it is more than %(erise)s above a week earlier with z > %(ez)g and at least %(en)d sessions in both weeks. %(colours)s' % {
                     days: c.baselineDays,
                     rw: r.window,
                     rrise: d.pct(r.minRise),
                     rz: r.zScore,
                     rn: r.minSessions,
                     rn0: r.minBaselineSessions,
                     ew: e.window,
                     erise: d.pct(e.minRise),
                     ez: e.zScore,
                     en: e.minSessions,
                     colours: 'Threshold lines (dashed): ' + d.dropOffColours(c),
                   },
                   d.grid(0, 4, 12, 9),
                   [
                     d.target('kore_bot_window_task:drop_off:ratio' + task, d.legend(c, '{{bot}} {{window}} now')),
                     d.target('kore_bot_window_task:drop_off:same_time_ratio' + task, d.legend(c, '{{bot}} {{window}} usual at this time')),
                     d.target('kore_bot_window_task:drop_off:offset_1w_ratio' + task, d.legend(c, '{{bot}} {{window}} a week earlier')),
                   ],
                   'percentunit', steps=d.dropOffSteps(c),
                   overrides=[d.dashed('B'), {
                     matcher: { id: 'byFrameRefID', options: 'C' },
                     properties: [{ id: 'custom.lineStyle', value: { fill: 'dot', dash: [2, 6] } }],
                   }]),
      d.timeseries('Drop-off z-score against its baselines',
                   'How unusual the drop-off is: the two-proportion z statistic of the ratio now against its usual level (kore_bot_window_task:drop_off:same_time_zscore, solid) and against a week earlier (kore_bot_window_task:drop_off:offset_1w_zscore, dashed). The dashed lines are the alerts\' thresholds: %g for KoreTaskDropOffRising (usual level, %s window), %g for KoreTaskDropOffElevated (a week earlier, %s window).' % [r.zScore, r.window, e.zScore, e.window],
                   d.grid(12, 4, 12, 9),
                   [
                     d.target('kore_bot_window_task:drop_off:same_time_zscore' + task, d.legend(c, '{{bot}} {{window}} against usual')),
                     d.target('kore_bot_window_task:drop_off:offset_1w_zscore' + task, d.legend(c, '{{bot}} {{window}} against a week earlier')),
                   ],
                   'none', steps=[[r.zScore, 'orange'], [e.zScore, 'red']], overrides=[d.dashed('B')]),

      d.timeseries('Sessions by window and status',
                   'Sessions in which the task ran, per window and outcome (success vs failtask).',
                   d.grid(0, 13, 12, 8),
                   [d.target('sum by (%s) (kore_task_sessions%s)' % [byStatus, task], d.legend(c, '{{bot}} {{window}} {{status}}'))], 'short', min=0),
      d.timeseries('Executions by window and status',
                   'Task executions (a session may run the task more than once), per window and outcome.',
                   d.grid(12, 13, 12, 8),
                   [d.target('sum by (%s) (kore_task_executions%s)' % [byStatus, task], d.legend(c, '{{bot}} {{window}} {{status}}'))], 'short', min=0),
      statusRatio('Self-service ratio by window and status', 'self_service', 'Self-service') + { gridPos: d.grid(0, 21, 12, 8) },
      statusRatio('Drop-off ratio by window and status', 'drop_off', 'Drop-off') + { gridPos: d.grid(12, 21, 12, 8) },
      statusRatio('Agent-transfer ratio by window and status', 'agent_transfer', 'Agent-transfer') + { gridPos: d.grid(0, 29, 12, 8) },
      d.timeseries('Executions per session',
                   'Executions / sessions of the task per window: how often users run the task again within one session.',
                   d.grid(12, 29, 12, 8),
                   [d.target(|||
                     sum by (%(by)s) (kore_task_executions%(s)s)
                     /
                     (sum by (%(by)s) (kore_task_sessions%(s)s) > 0)
                   ||| % { by: byWindow, s: task }, d.legend(c, '{{bot}} {{window}}'))], 'short', min=0),

      d.table('Outcomes now',
              'The task\'s counts per bot, window and status from the last finished report.',
              d.grid(0, 37, 24, 8),
              [
                d.target('sum by (%s) (kore_task_%s%s)' % [byStatus, m, task], instant=true, table=true)
                for m in ['sessions', 'self_service_sessions', 'drop_off_sessions', 'agent_transfer_sessions', 'executions']
              ],
              columns={
                bot: 'Bot',
                window: 'Window',
                status: 'Status',
                'Value #A': 'Sessions',
                'Value #B': 'Self-service',
                'Value #C': 'Drop-off',
                'Value #D': 'Agent transfer',
                'Value #E': 'Executions',
              },
              order=['bot', 'window', 'status', 'Value #A', 'Value #B', 'Value #C', 'Value #D', 'Value #E'] + d.envLabels(c)),
    ],
  )
