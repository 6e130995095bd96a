// Building blocks of the Grafana dashboards (classic JSON, schema version
// 39: Grafana 10.4 and later): the variables, the environment selector
// every query carries, the panels in the style the dashboards share, and
// the thresholds taken from the alerts' configuration.
{
  // The environment labels (config: environmentLabels). Each has a
  // variable of its own name; every query selects them and every
  // aggregation keeps them, so two environments never add up.
  envLabels(c):: [l for l in c.environmentLabels if l != null && l != ''],

  // sel(c, matchers): a selector of the environment variables plus matchers.
  sel(c, matchers=[]):: '{%s}' % std.join(', ', ['%s=~"$%s"' % [l, l] for l in self.envLabels(c)] + matchers),

  // by(c, labels): the environment labels and labels, for by (…) and on (…).
  by(c, labels=[]):: std.join(', ', self.envLabels(c) + labels),

  // legend(c, text): a legend that tells environments apart: text, then
  // the job and the other environment labels (a missing one shows as
  // nothing).
  legend(c, text=''):: std.join(' · ', [l for l in [text, std.join(' ', ['{{%s}}' % l for l in self.envOrder(c)])] if l != '']),
  envOrder(c):: [l for l in self.envLabels(c) if l == 'job'] + std.reverse([l for l in self.envLabels(c) if l != 'job']),

  // pct(ratio): a ratio as the README and the alerts spell it, e.g. "50 %".
  pct(ratio):: '%g %%' % (ratio * 100),

  ds:: { type: 'prometheus', uid: '${datasource}' },

  // ---- Variables ----

  datasourceVariable:: {
    type: 'datasource',
    name: 'datasource',
    label: 'Data source',
    description: 'The Prometheus that scrapes kore_exporter and evaluates the kore_exporter mixin\'s rules.',
    query: 'prometheus',
    current: { text: 'default', value: 'default' },
    hide: 0,
    refresh: 1,
    regex: '',
    options: [],
  },

  queryVariable(name, label, description, query, multi, allValue='.+', current={ text: '', value: '' }):: {
    type: 'query',
    name: name,
    label: label,
    description: description,
    datasource: $.ds,
    query: query,
    definition: query,
    refresh: 2,
    sort: 1,
    multi: multi,
    includeAll: multi,
    current: if multi then { text: ['All'], value: ['$__all'] } else current,
    options: [],
    regex: '',
    hide: 0,
  } + (if multi then { allValue: allValue } else {}),

  // The environment variables, each narrowed by the ones before it. Their
  // "All" is .*, which also matches series without the label (a Prometheus
  // outside Kubernetes has no namespace).
  envVariables(c):: [
    local before = self.envLabels(c)[:i];
    local l = self.envLabels(c)[i];
    self.queryVariable(
      l, std.asciiUpper(l[0]) + l[1:],
      'The %s label of the exporter\'s series: environments are kept apart by it.' % l,
      'label_values(kore_bot_info%s, %s)' % [if before == [] then '' else '{%s}' % std.join(', ', ['%s=~"$%s"' % [b, b] for b in before]), l],
      true, '.*',
    )
    for i in std.range(0, std.length(self.envLabels(c)) - 1)
  ],

  botVariable(c):: self.queryVariable(
    'bot', 'Bot', 'Configured bot names (kore_bot_info).',
    'label_values(kore_bot_info%s, bot)' % self.sel(c), true,
  ),

  windowVariable(c, multi, current=null):: self.queryVariable(
    'window', 'Window', 'Rolling report window as configured (1h, 24h, 7d...).',
    'label_values(kore_task_sessions%s, window)' % self.sel(c, ['bot=~"$bot"']), multi, current=current,
  ),

  taskVariable(c, multi, description):: self.queryVariable(
    'task', 'Task', description,
    'label_values(kore_task_sessions%s, task_name)' % self.sel(c, ['bot=~"$bot"', 'window=~"$window"']), multi,
  ),

  // ---- Data links ----

  // drilldownLink(c, from, window): a data link into the task drill-down
  // for the task of a table row (from = 'table') or of a series (from =
  // 'series'). The bot, task and job come from the row or series; the
  // other environment labels, which a Prometheus outside Kubernetes does
  // not have, from this dashboard's variables; the window from the row or
  // series, or the given window.
  drilldownLink(c, from, window=null)::
    local value(label) =
      if from == 'table' then '${__data.fields.%s:percentencode}' % label
      else '${__field.labels.%s:percentencode}' % label;
    local env = [
      if l == 'job' then 'var-job=' + value('job') else '${%s:queryparam}' % l
      for l in self.envLabels(c)
    ];
    {
      title: 'Drill into this task',
      url: '/d/kore-task-drilldown?' + std.join('&', [
        'var-bot=' + value('bot'),
        'var-task=' + value('task_name'),
        'var-window=' + (if window == null then value('window') else window),
      ] + env + ['${datasource:queryparam}', '${__url_time_range}']),
      targetBlank: false,
    },

  // ---- Thresholds ----

  // thresholds(base, steps): Grafana thresholds from a base colour and
  // [value, colour] steps, in ascending order.
  thresholds(base, steps=[]):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] +
           [{ color: s[1], value: s[0] } for s in std.sort(steps, function(s) s[0])],
  },

  // dropOffSteps(c): the drop-off ratios the alerts call high: orange from
  // newTaskDropOff.ratio, red from dropOffHigh.ratio.
  dropOffSteps(c):: [[c.newTaskDropOff.ratio, 'orange'], [c.dropOffHigh.ratio, 'red']],

  // dropOffColours(c): what the colours of dropOffSteps mean, for a panel's
  // description.
  dropOffColours(c)::
    'Orange from %s (KoreTaskNewWithHighDropOff: a task without history, at least %d sessions in %s), red from %s (KoreTaskDropOffHigh: any task, at least %d sessions in %s).' % [
      self.pct(c.newTaskDropOff.ratio), c.newTaskDropOff.minSessions, c.newTaskDropOff.window,
      self.pct(c.dropOffHigh.ratio), c.dropOffHigh.minSessions, c.dropOffHigh.window,
    ],

  // ---- Panels ----

  grid(x, y, w, h):: { x: x, y: y, w: w, h: h },

  // target(expr, legend, instant, table): a Prometheus query of a panel;
  // the panel gives it its refId.
  target(expr, legend='', instant=false, table=false):: {
    datasource: $.ds,
    expr: std.rstripChars(expr, '\n'),
    legendFormat: legend,
    range: !instant,
    instant: instant,
    editorMode: 'code',
  } + (if table then { format: 'table' } else {}),

  panel(type, title, description, grid, targets, defaults, options, overrides=[]):: {
    type: type,
    title: title,
    description: description,
    datasource: $.ds,
    gridPos: grid,
    fieldConfig: { defaults: defaults, overrides: overrides },
    targets: std.mapWithIndex(function(i, t) t + { refId: std.char(std.codepoint('A') + i) }, targets),
    options: options,
  },

  // unitRange(unit, min, max): a field's unit and range; ratios get 0-1.
  unitRange(unit, min=null, max=null)::
    { unit: unit } +
    (if unit == 'percentunit' && min == null then { min: 0, max: 1 } else {}) +
    (if min != null then { min: min } else {}) +
    (if max != null then { max: max } else {}),

  stat(title, description, grid, targets, unit, steps=[], base='text', min=null, max=null, decimals=null, mappings=null, textMode='auto', graphMode='area')::
    self.panel('stat', title, description, grid, targets,
               self.unitRange(unit, min, max) + {
                 thresholds: $.thresholds(base, steps),
                 color: { mode: 'thresholds' },
               } + (if decimals != null then { decimals: decimals } else {})
               + (if mappings != null then { mappings: mappings } else {}),
               {
                 reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
                 colorMode: 'value',
                 graphMode: graphMode,
                 justifyMode: 'auto',
                 orientation: 'auto',
                 textMode: textMode,
                 wideLayout: true,
                 showPercentChange: false,
                 percentChangeColorMode: 'standard',
               }),

  // timeseries: steps, if any, are drawn as dashed threshold lines.
  timeseries(title, description, grid, targets, unit, min=null, max=null, steps=[], overrides=[], links=[], calcs=['lastNotNull', 'max'])::
    self.panel('timeseries', title, description, grid, targets,
               self.unitRange(unit, min, max) + {
                 thresholds: $.thresholds('green', steps),
                 color: { mode: 'palette-classic' },
                 custom: {
                   drawStyle: 'line',
                   lineWidth: 1,
                   fillOpacity: 0,
                   showPoints: 'never',
                   spanNulls: true,
                 } + (if steps != [] then { thresholdsStyle: { mode: 'dashed' } } else {}),
               } + (if links != [] then { links: links } else {}),
               {
                 legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: calcs },
                 tooltip: { mode: 'multi', sort: 'desc' },
               },
               overrides),

  // dashed(refId), dotted(refId): overrides that draw a query's series
  // dashed (a baseline) or dotted (an alert's level), and red for a level.
  dashed(refId):: {
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }],
  },
  level(refId):: {
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [
      { id: 'custom.lineStyle', value: { fill: 'dot', dash: [2, 6] } },
      { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
    ],
  },

  bargauge(title, description, grid, targets, unit, steps=[], base='green', min=null, max=null, links=[])::
    self.panel('bargauge', title, description, grid, targets,
               self.unitRange(unit, min, max) + {
                 thresholds: $.thresholds(base, steps),
                 color: { mode: 'thresholds' },
               } + (if links != [] then { links: links } else {}),
               {
                 reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
                 displayMode: 'gradient',
                 orientation: 'horizontal',
                 showUnfilled: true,
                 valueMode: 'color',
                 namePlacement: 'auto',
                 sizing: 'auto',
                 minVizWidth: 8,
                 minVizHeight: 16,
                 maxVizHeight: 300,
                 legend: { showLegend: false, displayMode: 'list', placement: 'bottom', calcs: [] },
               }),

  // table(…, columns): instant queries in table format merged into one row
  // per series; columns renames the fields (label names and "Value #<refId>"),
  // order orders them (fields not named stay, after them), hide hides some,
  // sortBy names the column the rows are sorted by.
  table(title, description, grid, targets, columns={}, order=[], overrides=[], sortBy=null, desc=true, hide=[])::
    self.panel('table', title, description, grid, targets,
               {
                 unit: 'short',
                 thresholds: $.thresholds('green'),
                 color: { mode: 'thresholds' },
                 custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false },
               },
               {
                 frameIndex: 0,
                 showHeader: true,
                 cellHeight: 'sm',
                 footer: { show: false, reducer: ['sum'], fields: '' },
               } + (if sortBy != null then { sortBy: [{ displayName: sortBy, desc: desc }] } else {}),
               overrides) + {
      transformations: [
        { id: 'merge', options: {} },
        {
          id: 'organize',
          options: {
            excludeByName: { [f]: true for f in ['Time', '__name__'] + hide },
            renameByName: columns,
            indexByName: { [order[i]]: i for i in std.range(0, std.length(order) - 1) },
          },
        },
      ],
    },

  // column(name, props): a table override for the field displayed as name.
  column(name, props):: { matcher: { id: 'byName', options: name }, properties: props },

  // colouredColumn(name, unit, steps): a column in unit whose text takes the
  // thresholds' colour.
  colouredColumn(name, unit, steps, base='text'):: self.column(name, [
    { id: 'unit', value: unit },
    { id: 'thresholds', value: $.thresholds(base, steps) },
    { id: 'custom.cellOptions', value: { type: 'color-text' } },
  ]),

  // ---- The dashboard ----

  dashboard(uid, title, description, variables, panels, from='now-24h', refresh='5m'):: {
    uid: uid,
    title: title,
    description: description,
    tags: ['kore', 'kore_exporter'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: refresh,
    timezone: 'browser',
    time: { from: from, to: 'now' },
    timepicker: {},
    fiscalYearStartMonth: 0,
    liveNow: false,
    links: [{
      title: 'Kore.ai dashboards',
      type: 'dashboards',
      tags: ['kore'],
      asDropdown: true,
      includeVars: true,
      keepTime: true,
      icon: 'external link',
      targetBlank: false,
      tooltip: '',
      url: '',
    }],
    annotations: { list: [{
      builtIn: 1,
      datasource: { type: 'grafana', uid: '-- Grafana --' },
      enable: true,
      hide: true,
      iconColor: 'rgba(0, 211, 255, 1)',
      name: 'Annotations & Alerts',
      type: 'dashboard',
    }] },
    templating: { list: [$.datasourceVariable] + variables },
    panels: std.mapWithIndex(function(i, p) p + { id: i + 1 }, panels),
  },
}
