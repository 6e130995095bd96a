// The one place to tune kore_exporter's rules, alerts and dashboards.
// Override any field in your own jsonnet:
//   (import 'mixin.libsonnet') + { _config+:: { dropOffRising+: { minSessions: 50 } } }
// and render prometheusRules, prometheusAlerts and grafanaDashboards.
// docs/alerts.md explains every alert and how each threshold was chosen.
{
  _config+:: {
    // The exporter's scrape job, for the target-down and target-absent alerts.
    exporterSelector: 'job="kore_exporter"',

    // Labels that tell environments apart. Every aggregation keeps them, so a
    // staging and a production exporter with the same bot names, or two
    // clusters evaluated by one ruler, never add up. A label your series do
    // not have costs nothing.
    clusterLabel: 'cluster',
    environmentLabels: [self.clusterLabel, 'namespace', 'job'],

    // Static bot labels (the bots' `labels:` in the exporter's configuration,
    // served on kore_bot_info only) copied onto every alert about a bot, for
    // routing in Alertmanager.
    botInfoLabels: ['team'],

    // Where the alerts' links point.
    grafanaURL: 'http://localhost:3000',
    runbookURL: 'https://github.com/kore-exporter/kore_exporter/blob/main/docs/alerts.md',

    // The baseline of the "rising"/"falling" alerts: the same time of day on
    // each of the previous baselineDays days, pooled (counts summed), so a
    // missing day only makes the baseline smaller. baselineLookback is how far
    // back from each of those instants a sample is taken: 1h covers history
    // imported with `kore_exporter backfill --step=1h`.
    baselineDays: 7,
    baselineLookback: '1h',

    // A task's drop-off ratio over the 1h window against its baseline: a
    // one-sided two-proportion z-test on the counts, an absolute rise, and
    // volume guards on both sides. A warning for a task with fewer than
    // criticalSessions sessions in the hour, critical from there on.
    dropOffRising: {
      window: '1h',
      zScore: 3.8,
      minRise: 0.10,
      minSessions: 20,
      minBaselineSessions: 60,
      criticalSessions: 100,
      'for': '5m',
    },

    // A task's drop-off over the 24h window against the same 24 hours one
    // week earlier: a regression that lasts beyond a day (which the 1h
    // baseline absorbs day by day) stays reported for a week.
    dropOffElevated: {
      window: '24h',
      zScore: 4,
      minRise: 0.10,
      minSessions: 100,
      minBaselineSessions: 100,
      'for': '1h',
    },

    // Any task whose drop-off ratio is high, with or without history.
    dropOffHigh: { window: '24h', ratio: 0.5, minSessions: 50, 'for': '30m' },

    // A task with no sessions at all in the baseline days (new or renamed)
    // while its bot has history: it has no baseline to rise above.
    newTaskDropOff: { window: '24h', ratio: 0.3, minSessions: 30, 'for': '30m' },

    // The bot's self-service ratio over 1h against its baseline (z-test,
    // absolute fall, volume guards): session-level for a bot with the
    // sessions report and its history, task-weighted otherwise. Critical:
    // every task of the bot is affected.
    containmentFalling: {
      window: '1h',
      zScore: 4,
      minFall: 0.10,
      minSessions: 100,
      minBaselineSessions: 300,
      'for': '15m',
    },

    // Agent transfers of a bot over 1h against their usual count at this time
    // of day (the baseline's mean per day): at least `factor` times as many,
    // at least minIncrease more, and beyond zScore Poisson standard deviations.
    agentTransferSurge: { window: '1h', factor: 2, minIncrease: 20, zScore: 4, 'for': '15m' },

    // A bot's task sessions over 1h below `ratio` of their usual count at
    // this time of day (at least minUsualSessions), while its reports
    // succeed; an empty report counts as 0.
    trafficCollapse: { window: '1h', ratio: 0.25, minUsualSessions: 50, 'for': '30m' },

    // The data of a bot × window is missing when its last successful report
    // is older than `intervals` of the job's own interval, or when its runs
    // fail and none has succeeded since the exporter started.
    dataMissing: { intervals: 2, 'for': '5m' },

    // How long a data alert stays firing once its condition is gone (for
    // example because the series expired after stale_after): long enough for
    // the data-missing alert to take over without a gap.
    keepFiringFor: '20m',

    // Kore.ai's budget of the Analytics APIs per bot id (all variants of a
    // bot id share it), and the share of it that warns.
    apiBudgetPerHour: 1800,
    apiBudgetWarnShare: 0.8,
  },
}
