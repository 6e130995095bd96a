// Helpers that build the PromQL of rules.libsonnet and alerts.libsonnet
// from the configuration, so every expression keeps the environment labels.
{
  // by(c, labels): the environment labels and labels, for `by (...)`.
  by(c, labels):: std.join(', ', c.environmentLabels + labels),

  task:: ['bot', 'window', 'task_name', 'task_type'],
  bot:: ['bot', 'window'],

  // sameTime(c, expr, labels): expr summed by labels over the same time of
  // day on each of the previous c.baselineDays days. Each day is tagged with
  // its own days_ago label before `or`, so days that exist are all kept and
  // a missing day is left out instead of blanking the sum.
  sameTime(c, metric, labels)::
    'sum by (%s) (\n%s\n)' % [
      self.by(c, labels),
      std.join('\n  or\n', [
        '  label_replace(last_over_time(%s[%s] offset %dd), "days_ago", "%d", "", "")' % [metric, c.baselineLookback, d, d]
        for d in std.range(1, c.baselineDays)
      ]),
    ],

  // baselineDays(c, labels): how many of the previous days have data, per
  // group of labels.
  baselineDayCount(c, labels)::
    'count by (%s) (\n%s\n)' % [
      self.by(c, labels),
      std.join('\n  or\n', [
        '  label_replace(group by (%s) (last_over_time(kore_task_sessions[%s] offset %dd)), "days_ago", "%d", "", "")' % [self.by(c, labels), c.baselineLookback, d, d]
        for d in std.range(1, c.baselineDays)
      ]),
    ],

  // ratio(num, den): num / den, without a ratio where den is 0.
  ratio(num, den):: '%s\n/\n(%s > 0)' % [num, den],

  // zscore(p1, p0, pooled, n1, n0): the two-proportion z statistic of a
  // current ratio p1 over n1 sessions against a baseline ratio p0 over n0
  // sessions, with the pooled ratio of both.
  zscore(p1, p0, pooled, n1, n0)::
    |||
      (%(p1)s - %(p0)s)
      /
      sqrt(
          %(pooled)s
        * (1 - %(pooled)s)
        * (1 / %(n1)s + 1 / %(n0)s)
      )
    ||| % { p1: p1, p0: p0, pooled: pooled, n1: n1, n0: n0 },

  // routed(c, expr): expr with the bots' static labels (c.botInfoLabels) of
  // kore_bot_info joined on. `group by` makes the right side one series per
  // bot even while two exporters serve the same kore_bot_info (a shard
  // change), so the join cannot fail on duplicates.
  routed(c, expr)::
    if std.length(c.botInfoLabels) == 0 then expr else
      '(\n%s)\n* on (%s) group_left (%s)\n  group by (%s) (kore_bot_info)\n' % [
        std.join('', ['  ' + l + '\n' for l in std.split(std.rstripChars(expr, '\n'), '\n')]),
        self.by(c, ['bot']),
        std.join(', ', c.botInfoLabels),
        self.by(c, ['bot'] + c.botInfoLabels),
      ],

  // runbook(c, alert): the runbook section of alert.
  runbook(c, alert):: '%s#%s' % [c.runbookURL, std.asciiLower(alert)],
}
