// Recording rules: one definition of every ratio and baseline, for the
// alerts and the dashboards alike.
//
// Names follow level:metric:operations with the one prefix `kore_`:
//   kore_bot_window_task:…  per bot × window × task (task_name, task_type)
//   kore_bot_window:…       per bot × window, summed over the bot's tasks.
//     These count a session once per task it ran ("task_" in the metric
//     name): task-weighted, not the session-level containment that
//     Kore.ai's own dashboard shows. Those from kore_bot_sessions (bots
//     with the Sessions History report on) count each session once
//     ("session_" in the ratios' names, "sessions" in the sums');
//   kore_bot_window_channel:… the same per channel.
// Every aggregation keeps the environment labels (config: environmentLabels).
// Ratios are computed from counts summed over `status`, and a denominator
// of 0 gives no ratio (`> 0`).
//
// Baselines ("same_time"): the counts of the same window at the same time of
// day on each of the previous baselineDays days, summed ("pooled"), read from
// the raw kore_task_* series with last_over_time(…[baselineLookback] offset Nd),
// so they work on history imported with `kore_exporter backfill` (hourly
// points, no recorded series) and on live data alike. A missing day only
// shrinks the pool. "offset_1w" is the same window one week earlier.
local lib = import 'lib.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local task = lib.by(c, lib.task),
    local bot = lib.by(c, lib.bot),
    local channel = lib.by(c, lib.bot + ['channel']),
    local rec(name, expr) = { record: name, expr: expr + '\n' },

    groups+: [
      {
        name: 'kore_task.rules',
        interval: '1m',
        rules: [
          rec('kore_bot_window_task:sessions:sum',
              'sum by (%s) (kore_task_sessions)' % task),
          rec('kore_bot_window_task:drop_off_sessions:sum',
              'sum by (%s) (kore_task_drop_off_sessions)' % task),
          rec('kore_bot_window_task:agent_transfer_sessions:sum',
              'sum by (%s) (kore_task_agent_transfer_sessions)' % task),
        ] + [
          rec('kore_bot_window_task:%s:ratio' % m,
              lib.ratio('sum by (%s) (kore_task_%s_sessions)' % [task, m], 'sum by (%s) (kore_task_sessions)' % task))
          for m in ['self_service', 'drop_off', 'agent_transfer']
        ],
      },
      {
        name: 'kore_bot.rules',
        interval: '1m',
        rules: [
          rec('kore_bot_window:task_sessions:sum', 'sum by (%s) (kore_task_sessions)' % bot),
        ] + [
          rec('kore_bot_window:task_%s_sessions:sum' % m, 'sum by (%s) (kore_task_%s_sessions)' % [bot, m])
          for m in ['self_service', 'drop_off', 'agent_transfer']
        ] + [
          rec('kore_bot_window:task_%s:ratio' % m,
              lib.ratio('sum by (%s) (kore_task_%s_sessions)' % [bot, m], 'sum by (%s) (kore_task_sessions)' % bot))
          for m in ['self_service', 'drop_off', 'agent_transfer']
        ],
      },
      {
        name: 'kore_bot_sessions.rules',
        interval: '1m',
        rules: [
          rec('kore_bot_window:sessions:sum', 'sum by (%s) (kore_bot_sessions)' % bot),
        ] + [
          rec('kore_bot_window:%s_sessions:sum' % m, 'sum by (%s) (kore_bot_sessions{containment="%s"})' % [bot, m])
          for m in ['self_service', 'drop_off', 'agent_transfer']
        ] + [
          rec('kore_bot_window:session_%s:ratio' % m,
              lib.ratio('sum by (%s) (kore_bot_sessions{containment="%s"})' % [bot, m], 'sum by (%s) (kore_bot_sessions)' % bot))
          for m in ['self_service', 'drop_off', 'agent_transfer']
        ] + [
          rec('kore_bot_window_channel:sessions:sum', 'sum by (%s) (kore_bot_sessions)' % channel),
        ] + [
          rec('kore_bot_window_channel:session_%s:ratio' % m,
              lib.ratio('sum by (%s) (kore_bot_sessions{containment="%s"})' % [channel, m], 'sum by (%s) (kore_bot_sessions)' % channel))
          for m in ['self_service', 'drop_off', 'agent_transfer']
        ],
      },
      {
        name: 'kore_bot_sessions_baseline.rules',
        interval: '1m',
        rules: [
          rec('kore_bot_window:sessions:same_time_sum', lib.sameTime(c, 'kore_bot_sessions', lib.bot)),
          rec('kore_bot_window:self_service_sessions:same_time_sum', lib.sameTime(c, 'kore_bot_sessions{containment="self_service"}', lib.bot)),
          rec('kore_bot_window:session_self_service:same_time_ratio',
              lib.ratio('kore_bot_window:self_service_sessions:same_time_sum', 'kore_bot_window:sessions:same_time_sum')),
          rec('kore_bot_window:session_self_service:same_time_pooled_ratio',
              |||
                (kore_bot_window:self_service_sessions:sum + kore_bot_window:self_service_sessions:same_time_sum)
                /
                (kore_bot_window:sessions:sum + kore_bot_window:sessions:same_time_sum > 0)
              |||),
          rec('kore_bot_window:session_self_service:same_time_zscore',
              lib.zscore('kore_bot_window:session_self_service:ratio', 'kore_bot_window:session_self_service:same_time_ratio',
                         'kore_bot_window:session_self_service:same_time_pooled_ratio',
                         'kore_bot_window:sessions:sum', 'kore_bot_window:sessions:same_time_sum')),
        ],
      },
      {
        name: 'kore_task_baseline.rules',
        interval: '1m',
        rules: [
          rec('kore_bot_window_task:sessions:same_time_sum', lib.sameTime(c, 'kore_task_sessions', lib.task)),
          rec('kore_bot_window_task:drop_off_sessions:same_time_sum', lib.sameTime(c, 'kore_task_drop_off_sessions', lib.task)),
          rec('kore_bot_window_task:drop_off:same_time_ratio',
              lib.ratio('kore_bot_window_task:drop_off_sessions:same_time_sum', 'kore_bot_window_task:sessions:same_time_sum')),
          rec('kore_bot_window_task:drop_off:same_time_pooled_ratio',
              |||
                (kore_bot_window_task:drop_off_sessions:sum + kore_bot_window_task:drop_off_sessions:same_time_sum)
                /
                (kore_bot_window_task:sessions:sum + kore_bot_window_task:sessions:same_time_sum > 0)
              |||),
          rec('kore_bot_window_task:drop_off:same_time_zscore',
              lib.zscore('kore_bot_window_task:drop_off:ratio', 'kore_bot_window_task:drop_off:same_time_ratio',
                         'kore_bot_window_task:drop_off:same_time_pooled_ratio',
                         'kore_bot_window_task:sessions:sum', 'kore_bot_window_task:sessions:same_time_sum')),

          rec('kore_bot_window_task:sessions:offset_1w',
              'sum by (%s) (last_over_time(kore_task_sessions[%s] offset 1w))' % [task, c.baselineLookback]),
          rec('kore_bot_window_task:drop_off_sessions:offset_1w',
              'sum by (%s) (last_over_time(kore_task_drop_off_sessions[%s] offset 1w))' % [task, c.baselineLookback]),
          rec('kore_bot_window_task:drop_off:offset_1w_ratio',
              lib.ratio('kore_bot_window_task:drop_off_sessions:offset_1w', 'kore_bot_window_task:sessions:offset_1w')),
          rec('kore_bot_window_task:drop_off:offset_1w_pooled_ratio',
              |||
                (kore_bot_window_task:drop_off_sessions:sum + kore_bot_window_task:drop_off_sessions:offset_1w)
                /
                (kore_bot_window_task:sessions:sum + kore_bot_window_task:sessions:offset_1w > 0)
              |||),
          rec('kore_bot_window_task:drop_off:offset_1w_zscore',
              lib.zscore('kore_bot_window_task:drop_off:ratio', 'kore_bot_window_task:drop_off:offset_1w_ratio',
                         'kore_bot_window_task:drop_off:offset_1w_pooled_ratio',
                         'kore_bot_window_task:sessions:sum', 'kore_bot_window_task:sessions:offset_1w')),
        ],
      },
      {
        name: 'kore_bot_baseline.rules',
        interval: '1m',
        rules: [
          rec('kore_bot_window:baseline_days:same_time_count', lib.baselineDayCount(c, lib.bot)),
          rec('kore_bot_window:task_sessions:same_time_sum', lib.sameTime(c, 'kore_task_sessions', lib.bot)),
          rec('kore_bot_window:task_self_service_sessions:same_time_sum', lib.sameTime(c, 'kore_task_self_service_sessions', lib.bot)),
          rec('kore_bot_window:task_agent_transfer_sessions:same_time_sum', lib.sameTime(c, 'kore_task_agent_transfer_sessions', lib.bot)),
          // The usual count at this time of day: the pool's mean per day.
          rec('kore_bot_window:task_sessions:same_time_avg',
              'kore_bot_window:task_sessions:same_time_sum\n/\nkore_bot_window:baseline_days:same_time_count'),
          rec('kore_bot_window:task_agent_transfer_sessions:same_time_avg',
              'kore_bot_window:task_agent_transfer_sessions:same_time_sum\n/\nkore_bot_window:baseline_days:same_time_count'),
          rec('kore_bot_window:task_self_service:same_time_ratio',
              lib.ratio('kore_bot_window:task_self_service_sessions:same_time_sum', 'kore_bot_window:task_sessions:same_time_sum')),
          rec('kore_bot_window:task_self_service:same_time_pooled_ratio',
              |||
                (kore_bot_window:task_self_service_sessions:sum + kore_bot_window:task_self_service_sessions:same_time_sum)
                /
                (kore_bot_window:task_sessions:sum + kore_bot_window:task_sessions:same_time_sum > 0)
              |||),
          rec('kore_bot_window:task_self_service:same_time_zscore',
              lib.zscore('kore_bot_window:task_self_service:ratio', 'kore_bot_window:task_self_service:same_time_ratio',
                         'kore_bot_window:task_self_service:same_time_pooled_ratio',
                         'kore_bot_window:task_sessions:sum', 'kore_bot_window:task_sessions:same_time_sum')),
        ],
      },
    ],
  },
}
