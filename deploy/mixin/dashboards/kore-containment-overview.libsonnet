// Kore.ai containment overview: per bot and per task, from the recorded
// series of rules.libsonnet (the ones the alerts read).
local d = import 'common.libsonnet';

function(c)
  local bots = d.sel(c, ['bot=~"$bot"', 'window="$window"']);
  local tasks = d.sel(c, ['bot=~"$bot"', 'window="$window"', 'task_name=~"$task"']);
  local env = d.by(c);
  local taskLink = d.drilldownLink(c, 'series');

  // A stat of the selected bots together, per environment: recorded counts
  // summed before dividing.
  local botsRatio(m) = |||
    sum by (%(env)s) (kore_bot_window:task_%(m)s_sessions:sum%(s)s)
    /
    (sum by (%(env)s) (kore_bot_window:task_sessions:sum%(s)s) > 0)
  ||| % { env: env, m: m, s: bots };
  // A session-level ratio from kore_bot_sessions itself (as the recording
  // rules compute it), so that backfilled history shows.
  local sessionRatio(labels) = |||
    sum by (%(by)s) (kore_bot_sessions%(selfService)s)
    /
    (sum by (%(by)s) (kore_bot_sessions%(s)s) > 0)
  ||| % { by: d.by(c, labels), s: bots, selfService: d.sel(c, ['bot=~"$bot"', 'window="$window"', 'containment="self_service"']) };
  local together = 'the selected bots together, all their tasks (the Task variable does not apply), per environment';
  local weighted = 'Task-weighted: a session counts once per task it ran, unlike the session-level containment of Kore.ai\'s own dashboard.';

  d.dashboard(
    'kore-containment-overview',
    'Kore.ai containment overview',
    'Containment of Kore.ai virtual assistants from kore_exporter and the recorded series of its mixin (the ones the alerts read): per bot task-weighted self-service, drop-off and agent-transfer ratios and sessions, session-level self-service per bot and channel (bots with the sessions report), the tasks with the highest drop-off and the week-over-week rise, with links into the task drill-down.',
    d.envVariables(c) + [
      d.botVariable(c),
      d.windowVariable(c, false, { text: c.dropOffHigh.window, value: c.dropOffHigh.window }),
      d.taskVariable(c, true, 'Tasks for the task panels (the bot panels always cover all of a bot\'s tasks).'),
      {
        type: 'textbox',
        name: 'min_sessions',
        label: 'Min sessions',
        description: 'Tasks with fewer sessions in the window are left out of the top lists, so one abandoned session on a quiet task does not read as 100 %%. The default is the fewest sessions any drop-off alert considers (dropOffRising.minSessions: %d).' % c.dropOffRising.minSessions,
        query: std.toString(c.dropOffRising.minSessions),
        current: { text: std.toString(c.dropOffRising.minSessions), value: std.toString(c.dropOffRising.minSessions) },
        hide: 0,
        options: [],
      },
    ],
    [
      d.stat('Task self-service ratio',
             'Share of the task sessions that ended self-service (contained) in the $window window, over %s: kore_bot_window:task_self_service_sessions:sum / kore_bot_window:task_sessions:sum. %s' % [together, weighted],
             d.grid(0, 0, 6, 4), [d.target(botsRatio('self_service'), d.legend(c))], 'percentunit'),
      d.stat('Task drop-off ratio',
             'Share of the task sessions in which the user left, in the $window window, over %s. The drop-off alerts judge tasks, not bots: see the task panels below.' % together,
             d.grid(6, 0, 6, 4), [d.target(botsRatio('drop_off'), d.legend(c))], 'percentunit'),
      d.stat('Task agent-transfer ratio',
             'Share of the task sessions handed to a human agent, in the $window window, over %s.' % together,
             d.grid(12, 0, 6, 4), [d.target(botsRatio('agent_transfer'), d.legend(c))], 'percentunit'),
      d.stat('Task sessions',
             'Task sessions in the $window window over %s (a session that ran two tasks counts twice).' % together,
             d.grid(18, 0, 6, 4),
             [d.target('sum by (%s) (kore_bot_window:task_sessions:sum%s)' % [env, bots], d.legend(c))], 'short'),

      d.timeseries('Task self-service ratio by bot',
                   'Per bot: kore_bot_window:task_self_service:ratio over the $window window, the series KoreBotContainmentFalling compares with its usual level on the %s window (the Kore.ai on call dashboard shows both). %s' % [c.containmentFalling.window, weighted],
                   d.grid(0, 4, 12, 8),
                   [d.target('kore_bot_window:task_self_service:ratio' + bots, d.legend(c, '{{bot}}'))], 'percentunit'),
      d.timeseries('Task drop-off ratio by bot',
                   'Per bot: kore_bot_window:task_drop_off:ratio, drop-off sessions / sessions over all its tasks in the $window window.',
                   d.grid(12, 4, 12, 8),
                   [d.target('kore_bot_window:task_drop_off:ratio' + bots, d.legend(c, '{{bot}}'))], 'percentunit'),
      d.timeseries('Task agent-transfer ratio by bot',
                   'Per bot: kore_bot_window:task_agent_transfer:ratio, agent-transfer sessions / sessions over all its tasks in the $window window.',
                   d.grid(0, 12, 12, 8),
                   [d.target('kore_bot_window:task_agent_transfer:ratio' + bots, d.legend(c, '{{bot}}'))], 'percentunit'),
      d.timeseries('Task sessions by bot',
                   'Per bot: kore_bot_window:task_sessions:sum over the $window window, as of each point in time (the exporter serves the last finished report\'s counts).',
                   d.grid(12, 12, 12, 8),
                   [d.target('kore_bot_window:task_sessions:sum' + bots, d.legend(c, '{{bot}}'))], 'short', min=0),

      d.timeseries('Session self-service ratio by bot',
                   'Per bot with the sessions report: the share of its sessions that ended self-service in the $window window, each session counted once, as Kore.ai\'s own Containment dashboard counts. Read from kore_bot_sessions itself (the same ratio as kore_bot_window:session_self_service:ratio), so history imported with kore_exporter backfill shows too. Bots without the sessions report have no line here; their task-weighted ratio is above.',
                   d.grid(0, 20, 12, 8),
                   [d.target(sessionRatio(['bot', 'window']), d.legend(c, '{{bot}}'))], 'percentunit'),
      d.timeseries('Session self-service ratio by channel',
                   'Per bot and channel (web and mobile SDK rtm, voice korevg or ivr, whatsapp, msteams, …; other for the rest): the share of sessions that ended self-service in the $window window, each session counted once, from kore_bot_sessions (backfilled history included).',
                   d.grid(12, 20, 12, 8),
                   [d.target(sessionRatio(['bot', 'window', 'channel']), d.legend(c, '{{bot}} / {{channel}}'))], 'percentunit'),

      d.bargauge('Top tasks by drop-off ratio',
                 'The 10 tasks with the highest drop-off ratio (kore_bot_window_task:drop_off:ratio) in the $window window now, among tasks with at least $min_sessions sessions. %s Click a bar to drill into the task.' % d.dropOffColours(c),
                 d.grid(0, 28, 12, 10),
                 [d.target(|||
                   topk(10,
                     kore_bot_window_task:drop_off:ratio%(s)s
                     and
                     kore_bot_window_task:sessions:sum%(s)s >= $min_sessions
                   )
                 ||| % { s: tasks }, d.legend(c, '{{bot}} / {{task_name}}'), instant=true)],
                 'percentunit', d.dropOffSteps(c), links=[taskLink]),
      d.bargauge('Drop-off rise against last week',
                 'The 10 tasks whose drop-off ratio rose most against the same window one week earlier, in percentage points, among tasks with at least $min_sessions sessions now: kore_bot_window_task:drop_off:ratio - kore_bot_window_task:drop_off:offset_1w_ratio. The week-earlier ratio reads last_over_time(…[%s] offset 1w), so history imported with kore_exporter backfill serves as well as scraped data; tasks without history a week ago are not listed. Red from +%s, the rise KoreTaskDropOffElevated requires on the %s window (with z > %g and at least %d sessions in both weeks). Click a bar to drill into the task.' % [c.baselineLookback, d.pct(c.dropOffElevated.minRise), c.dropOffElevated.window, c.dropOffElevated.zScore, c.dropOffElevated.minSessions],
                 d.grid(12, 28, 12, 10),
                 [d.target(|||
                   topk(10,
                       kore_bot_window_task:drop_off:ratio%(s)s
                     - kore_bot_window_task:drop_off:offset_1w_ratio%(s)s
                     and
                     kore_bot_window_task:sessions:sum%(s)s >= $min_sessions
                   ) > 0
                 ||| % { s: tasks }, d.legend(c, '{{bot}} / {{task_name}}'), instant=true)],
                 'percentunit', [[c.dropOffElevated.minRise, 'red']], min=0, links=[taskLink]),

      d.timeseries('Drop-off ratio of selected tasks against last week',
                   'Drop-off ratio per task now (kore_bot_window_task:drop_off:ratio, solid) and over the same window one week earlier (kore_bot_window_task:drop_off:offset_1w_ratio, dashed), for the selected tasks: is a drop-off unusual, or its usual weekly shape? Pick a few tasks in the Task variable; click a line to drill into its task.',
                   d.grid(0, 38, 24, 10),
                   [
                     d.target('kore_bot_window_task:drop_off:ratio' + tasks, d.legend(c, '{{bot}} / {{task_name}}')),
                     d.target('kore_bot_window_task:drop_off:offset_1w_ratio' + tasks, d.legend(c, '{{bot}} / {{task_name}} (a week earlier)')),
                   ],
                   'percentunit', overrides=[d.dashed('B')], links=[taskLink]),

      d.table('Tasks now',
              'Every selected task in the $window window: its sessions and three outcome ratios (kore_bot_window_task:*), from the last finished report. Sort by any column; click a task to drill into it. Drop-off colours: %s' % d.dropOffColours(c),
              d.grid(0, 48, 24, 10),
              [
                d.target('kore_bot_window_task:sessions:sum' + tasks, instant=true, table=true),
                d.target('kore_bot_window_task:self_service:ratio' + tasks, instant=true, table=true),
                d.target('kore_bot_window_task:drop_off:ratio' + tasks, instant=true, table=true),
                d.target('kore_bot_window_task:agent_transfer:ratio' + tasks, instant=true, table=true),
              ],
              columns={
                bot: 'Bot',
                task_name: 'Task',
                task_type: 'Type',
                window: 'Window',
                'Value #A': 'Sessions',
                'Value #B': 'Self-service',
                'Value #C': 'Drop-off',
                'Value #D': 'Agent transfer',
              },
              order=['bot', 'task_name', 'task_type', 'Value #A', 'Value #B', 'Value #C', 'Value #D', 'window'] + d.envLabels(c),
              overrides=[
                d.column('Task', [{ id: 'links', value: [d.drilldownLink(c, 'table')] }]),
                d.column('Self-service', [{ id: 'unit', value: 'percentunit' }]),
                d.colouredColumn('Drop-off', 'percentunit', d.dropOffSteps(c)),
                d.column('Agent transfer', [{ id: 'unit', value: 'percentunit' }]),
              ],
              sortBy='Drop-off'),
    ],
  )
