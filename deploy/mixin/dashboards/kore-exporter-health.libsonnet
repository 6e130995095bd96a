// Kore.ai exporter health: is kore_exporter collecting, and what does it
// cost of Kore.ai's API? The exporter's alerts about a bot link here.
local d = import 'common.libsonnet';

function(c)
  local jobs = d.sel(c, ['bot=~"$bot"', 'window=~"$window"']);
  local bots = d.sel(c, ['bot=~"$bot"']);
  local all = d.sel(c);
  local byJob = d.by(c, ['bot', 'window']);
  local byInstance = d.by(c, ['instance']);
  local jobLegend = d.legend(c, '{{bot}} {{window}}');
  local instanceLegend = d.legend(c, '{{instance}}');
  local m = c.dataMissing;
  local okMapping = [{ type: 'value', options: {
    '0': { text: 'failing', color: 'red', index: 0 },
    '1': { text: 'ok', color: 'green', index: 1 },
  } }];
  local perJob(title, description, grid, metric, unit, min=null) =
    d.timeseries(title, description, grid,
                 [d.target('max by (%s) (%s%s)' % [byJob, metric, jobs], jobLegend)], unit, min=min);

  d.dashboard(
    'kore-exporter-health',
    'Kore.ai exporter health',
    'Is kore_exporter collecting? Report runs, the age of their data against the data-missing alert, their duration, Kore.ai API requests against the budget, throttles and retries, skipped runs, reruns, folded rows, reloads and build info.',
    d.envVariables(c) + [
      d.botVariable(c),
      d.windowVariable(c, true),
    ],
    [
      d.panel('state-timeline', 'Report success',
              'Whether each bot × window\'s last report run succeeded (kore_exporter_report_success). A failing job keeps serving its last good data until stale_after; KoreExporterReportFailing warns after 15 minutes of failure.',
              d.grid(0, 0, 12, 8),
              [d.target('max by (%s) (kore_exporter_report_success%s)' % [byJob, jobs], jobLegend)],
              {
                unit: 'none',
                mappings: okMapping,
                thresholds: d.thresholds('red', [[1, 'green']]),
                color: { mode: 'thresholds' },
                custom: { fillOpacity: 80, lineWidth: 0 },
              },
              {
                showValue: 'never',
                rowHeight: 0.9,
                mergeValues: true,
                alignValue: 'left',
                legend: { showLegend: false, displayMode: 'list', placement: 'bottom', calcs: [] },
                tooltip: { mode: 'single', sort: 'none' },
              }),
      d.timeseries('Data age, in intervals of its job',
                   'Per bot × window: the time since its last successful report (time() - kore_exporter_report_last_success_timestamp_seconds) divided by the job\'s own interval (kore_exporter_report_interval_seconds). It climbs to about 1 before each run and drops after a success. The dashed line is %d intervals, where KoreExporterDataMissing fires (after %s): the bot\'s drop-off and containment alerts are then blind.' % [m.intervals, m['for']],
                   d.grid(12, 0, 12, 8),
                   [d.target(|||
                     (time() - max by (%(by)s) (kore_exporter_report_last_success_timestamp_seconds%(s)s))
                     /
                     max by (%(by)s) (kore_exporter_report_interval_seconds%(s)s)
                   ||| % { by: byJob, s: jobs }, jobLegend)],
                   'none', min=0, steps=[[m.intervals, 'red']]),
      d.timeseries('Age of the last successful report',
                   'Seconds since each job\'s last successful run. It should stay below the job\'s interval plus its duration; data older than stale_after (kore_exporter_report_stale_after_seconds) disappears.',
                   d.grid(0, 8, 12, 8),
                   [d.target('time() - max by (%s) (kore_exporter_report_last_success_timestamp_seconds%s)' % [byJob, jobs], jobLegend)], 's', min=0),
      perJob('Report duration', 'Duration of each job\'s last run (submit, polls and pages).',
             d.grid(12, 8, 12, 8), 'kore_exporter_report_duration_seconds', 's', 0),
      perJob('Running job progress', 'Completion of running report jobs as Kore.ai reports it (0-100 %); absent when no job runs.',
             d.grid(0, 16, 12, 8), 'kore_exporter_report_job_progress_ratio', 'percentunit'),
      d.timeseries('Report runs per hour by result',
                   'Report runs in the last hour by result (success, rate_limited, timeout, ...).',
                   d.grid(12, 16, 12, 8),
                   [d.target('sum by (%s) (increase(kore_exporter_report_runs_total%s[1h]))' % [d.by(c, ['result']), jobs], d.legend(c, '{{result}}'))], 'short', min=0),
      d.timeseries('API requests per minute by code',
                   'Kore.ai API requests per minute by bot and HTTP status code (code "0": no response). Kore.ai allows 60 per minute and %d per hour per bot id.' % c.apiBudgetPerHour,
                   d.grid(0, 24, 12, 8),
                   [d.target('sum by (%s) (rate(kore_exporter_api_requests_total%s[$__rate_interval])) * 60' % [d.by(c, ['bot', 'code']), bots], d.legend(c, '{{bot}} {{code}}'))], 'reqpm', min=0),
      d.timeseries('API requests per hour by bot id, against the budget',
                   'Kore.ai API requests over the last hour per bot id (all configured variants of a bot id share Kore.ai\'s budget), as KoreExporterAPIBudgetNearLimit counts them. Dashed lines: %d an hour (%s of the budget), where the alert fires, and Kore.ai\'s limit of %d an hour, where runs are throttled.' % [c.apiBudgetPerHour * c.apiBudgetWarnShare, d.pct(c.apiBudgetWarnShare), c.apiBudgetPerHour],
                   d.grid(12, 24, 12, 8),
                   [d.target(|||
                     sum by (%(bot_id)s) (
                         increase(kore_exporter_api_requests_total%(s)s[1h])
                       * on (%(on)s) group_left (bot_id)
                         group by (%(group)s) (kore_bot_info%(s)s)
                     )
                   ||| % { bot_id: d.by(c, ['bot_id']), on: d.by(c, ['instance', 'bot']), group: d.by(c, ['instance', 'bot', 'bot_id']), s: bots },
                              d.legend(c, '{{bot_id}}'))],
                   'short', min=0,
                   steps=[[c.apiBudgetPerHour * c.apiBudgetWarnShare, 'orange'], [c.apiBudgetPerHour, 'red']]),
      d.timeseries('Throttled requests (429) per hour',
                   'Kore.ai answers with HTTP 429 (rate limited) in the last hour, per bot; KoreExporterRateLimited warns when they are a sizeable share of a bot\'s requests for 30 minutes. Sustained throttling delays reports: fewer windows, a longer interval or a lower requests_per_minute_per_bot help.',
                   d.grid(0, 32, 12, 8),
                   [d.target('sum by (%s) (increase(kore_exporter_api_requests_total%s[1h]))' % [d.by(c, ['bot']), d.sel(c, ['bot=~"$bot"', 'code="429"'])], d.legend(c, '{{bot}}'))], 'short', min=0),
      d.timeseries('API retries per hour by reason',
                   'Requests repeated in the last hour, per bot and reason (network, rate_limited, server_error, unauthorized).',
                   d.grid(12, 32, 12, 8),
                   [d.target('sum by (%s) (increase(kore_exporter_api_retries_total%s[1h]))' % [d.by(c, ['bot', 'reason']), bots], d.legend(c, '{{bot}} {{reason}}'))], 'short', min=0),
      d.timeseries('API request latency',
                   '50th and 95th percentile of Kore.ai API request duration per endpoint (submit, status), over all bots of an exporter.',
                   d.grid(0, 40, 12, 8),
                   [
                     d.target('histogram_quantile(%g, sum by (%s) (rate(kore_exporter_api_request_duration_seconds_bucket%s[$__rate_interval])))' % [q, d.by(c, ['le', 'endpoint']), all],
                              d.legend(c, 'p%d {{endpoint}}' % (q * 100)))
                     for q in [0.5, 0.95]
                   ], 's', min=0),
      d.timeseries('Skipped runs and reruns per hour',
                   'Runs skipped because the previous run of the job was still going (overlap), and reports run again because the pages of a multi-page report did not add up, in the last hour.',
                   d.grid(12, 40, 12, 8),
                   [
                     d.target('sum by (%s) (increase(kore_exporter_report_skipped_runs_total%s[1h]))' % [byJob, jobs], d.legend(c, 'skipped {{bot}} {{window}}')),
                     d.target('sum by (%s) (increase(kore_exporter_report_reruns_total%s[1h]))' % [byJob, jobs], d.legend(c, 'rerun {{bot}} {{window}}')),
                   ], 'short', min=0),
      d.timeseries('Report rows and folded rows',
                   'Task rows in each job\'s last successful report, and how many of them the max_task_rows cap folded into __other_tasks__ (raise the cap or narrow the report if this is not 0).',
                   d.grid(0, 48, 12, 8),
                   [
                     d.target('max by (%s) (kore_exporter_report_rows%s)' % [byJob, jobs], d.legend(c, 'rows {{bot}} {{window}}')),
                     d.target('max by (%s) (kore_exporter_report_folded_rows%s)' % [byJob, jobs], d.legend(c, 'folded {{bot}} {{window}}')),
                   ], 'short', min=0),
      perJob('Requests per report run',
             'HTTP requests each job\'s last run sent to Kore.ai (submits, polls and retries): what a run costs of the bot\'s budget, against the estimate of --config.check.',
             d.grid(12, 48, 12, 8), 'kore_exporter_report_requests', 'short', 0),
      d.stat('Last config reload',
             'Whether each exporter instance\'s last configuration load succeeded; KoreExporterConfigReloadFailed warns after 5 minutes.',
             d.grid(0, 56, 6, 5),
             [d.target('max by (%s) (kore_exporter_config_last_reload_successful%s)' % [byInstance, all], instanceLegend)],
             'none', [[1, 'green']], 'red', mappings=okMapping),
      d.stat('Since last successful reload',
             'Time since each exporter instance last loaded its configuration successfully.',
             d.grid(6, 56, 6, 5),
             [d.target('time() - max by (%s) (kore_exporter_config_last_reload_success_timestamp_seconds%s)' % [byInstance, all], instanceLegend)], 's'),
      d.stat('Bots per exporter instance',
             'Bots each exporter instance serves (count of kore_bot_info). With --shard.count > 1 this shows how the bots split over the shards.',
             d.grid(12, 56, 6, 5),
             [d.target('count by (%s) (kore_bot_info%s)' % [byInstance, all], instanceLegend)], 'short'),
      d.stat('Exporter targets up',
             'Scrape health (up) of the targets that served kore_exporter metrics in the last day: 0 means Prometheus cannot scrape one now (KoreExporterDown pages after 5 minutes).',
             d.grid(18, 56, 6, 5),
             [d.target('up%s and on (%s) max_over_time(kore_exporter_build_info%s[1d])' % [all, byInstance, all], instanceLegend)],
             'none', [[1, 'green']], 'red', mappings=okMapping),
      d.table('Build info',
              'Version, revision, branch and Go version of each exporter instance (kore_exporter_build_info).',
              d.grid(0, 61, 12, 6),
              [d.target('max by (%s) (kore_exporter_build_info%s)' % [d.by(c, ['instance', 'version', 'revision', 'branch', 'goversion']), all], instant=true, table=true)],
              order=['instance', 'version', 'revision', 'branch', 'goversion'] + d.envLabels(c),
              hide=['Value', 'Value #A']),
      d.timeseries('Exporter memory',
                   'Resident memory of each exporter process.',
                   d.grid(12, 61, 12, 6),
                   [d.target('process_resident_memory_bytes%s and on (%s) kore_exporter_build_info%s' % [all, byInstance, all], instanceLegend)], 'bytes', min=0),
      d.timeseries('Job slots and waiting jobs',
                   'Report jobs that may run at once (limits.max_concurrent_jobs, or the size chosen from the bots) and jobs due to run but waiting for a slot. Waiting jobs most of the time mean too few slots: data ages and runs are skipped (docs/sizing.md).',
                   d.grid(0, 67, 24, 8),
                   [
                     d.target('max by (%s) (kore_exporter_job_slots%s)' % [byInstance, all], d.legend(c, 'slots {{instance}}')),
                     d.target('max by (%s) (kore_exporter_jobs_waiting%s)' % [byInstance, all], d.legend(c, 'waiting {{instance}}')),
                   ], 'short', min=0),
    ],
  )
