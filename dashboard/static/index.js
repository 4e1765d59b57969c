/* The index: search, filters and sort over the project table, each project's health (its
 * GoTrue, checked like the status page) and its usage (usage/usage.json). Rows are in the
 * page already; this only hides, orders and fills fixed-size cells, so nothing moves while
 * the checks come in. Filters live in the URL's hash (#q=shop&health=down), so a view can be
 * bookmarked. */
(function () {
  'use strict';

  var section = document.getElementById('projects');
  if (!section) { return; }
  var table = document.getElementById('project-table');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var form = section.querySelector('form.toolbar');
  var inputs = {
    q: document.getElementById('q'), template: document.getElementById('f-template'),
    auth: document.getElementById('f-auth'), health: document.getElementById('f-health'),
    sort: document.getElementById('f-sort')
  };
  var shown = document.getElementById('shown');
  var noMatch = document.getElementById('no-match');
  var usageByName = {};
  var now = Date.now();
  var direction = 1;
  var D = window.Dashboard;
  // Cells by column (templates/dashboard/index.html.j2): rows carry no copy of what they show.
  var COL = { template: 1, auth: 2, buckets: 3, realtime: 4, migration: 5, size: 6, rows: 7, users: 8, signin: 9, health: 10 };

  function cell(row, key) { return row.cells[COL[key]]; }

  function text(row) {
    if (!row._text) {
      row._text = (row.dataset.name + ' ' + row.dataset.template + ' ' + (row.dataset.host || '')).toLowerCase();
    }
    return row._text;
  }

  function value(row, key) {
    var u = usageByName[row.dataset.name] || {};
    switch (key) {
      case 'name': return row.dataset.name;
      case 'template': return row.dataset.template;
      case 'auth': return row.dataset.auth;
      case 'buckets': return Number(cell(row, 'buckets').textContent);
      case 'realtime': return Number(cell(row, 'realtime').textContent);
      case 'migration': return cell(row, 'migration').title;
      case 'size': return typeof u.databaseBytes === 'number' ? u.databaseBytes + (u.storageBytes || 0) : -1;
      case 'rows': return typeof u.rows === 'number' ? u.rows : -1;
      case 'users': return typeof u.users === 'number' ? u.users : -1;
      case 'signin': return u.lastSignInAt ? Date.parse(u.lastSignInAt) : 0;
      case 'health': return { down: 0, checking: 1, unknown: 2, up: 3 }[row.dataset.health || 'checking'];
      default: return '';
    }
  }

  function matches(row, f) {
    if (f.template && row.dataset.template !== f.template) { return false; }
    if (f.auth && row.dataset.auth !== f.auth) { return false; }
    if (f.health === 'idle') {
      if (row.dataset.idle !== 'true') { return false; }
    } else if (f.health && row.dataset.health !== f.health) { return false; }
    if (f.words.length) {
      var haystack = text(row);
      for (var i = 0; i < f.words.length; i++) {
        if (haystack.indexOf(f.words[i]) === -1) { return false; }
      }
    }
    return true;
  }

  function filters() {
    return {
      words: inputs.q.value.toLowerCase().split(/\s+/).filter(Boolean),
      template: inputs.template.value, auth: inputs.auth.value, health: inputs.health.value
    };
  }

  function apply() {
    var f = filters();
    var count = 0;
    rows.forEach(function (row) {
      var keep = matches(row, f);
      if (row.hidden === keep) { row.hidden = !keep; }
      if (keep) { count++; }
    });
    shown.textContent = String(count);
    noMatch.hidden = count !== 0;
    remember();
  }

  function sort(key) {
    var sorted = rows.slice().sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      if (x < y) { return -direction; }
      if (x > y) { return direction; }
      return a.dataset.name < b.dataset.name ? -1 : 1;
    });
    var fragment = document.createDocumentFragment();
    sorted.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.dataset.key === key) {
        th.setAttribute('aria-sort', direction > 0 ? 'ascending' : 'descending');
      } else {
        th.removeAttribute('aria-sort');
      }
    });
    remember();
  }

  function remember() {
    var parts = [];
    ['q', 'template', 'auth', 'health', 'sort'].forEach(function (k) {
      var v = inputs[k].value;
      if (v && !(k === 'sort' && v === 'name' && direction > 0)) { parts.push(k + '=' + encodeURIComponent(v)); }
    });
    if (direction < 0) { parts.push('desc=1'); }
    var hash = parts.length ? '#' + parts.join('&') : '';
    if (window.location.hash !== hash && window.history && window.history.replaceState) {
      window.history.replaceState(null, '', hash || window.location.pathname + window.location.search);
    }
  }

  function restore() {
    var hash = window.location.hash.replace(/^#/, '');
    if (!hash) { return; }
    hash.split('&').forEach(function (part) {
      var kv = part.split('=');
      var k = kv[0], v = decodeURIComponent(kv[1] || '');
      if (k === 'desc') { direction = -1; return; }
      var input = inputs[k];
      if (!input) { return; }
      if (input.tagName === 'SELECT' && !Array.prototype.some.call(input.options, function (o) { return o.value === v; })) {
        return;
      }
      input.value = v;
    });
  }

  function setHealth(row, result) {
    row.setAttribute('data-health', result.state);
    var badge = row.querySelector('.state');
    badge.setAttribute('data-state', result.state);
    badge.textContent = result.state;
    badge.title = result.detail || '';
  }

  function summary(key, text) {
    var item = section.querySelector('[data-summary="' + key + '"] .summary-figure');
    if (item) { item.textContent = text; }
  }

  function summarizeHealth() {
    var up = 0, down = 0;
    rows.forEach(function (row) {
      if (row.dataset.health === 'up') { up++; }
      if (row.dataset.health === 'down') { down++; }
    });
    summary('up', String(up));
    summary('down', String(down));
    section.querySelector('[data-summary="down"]').classList.toggle('alert', down > 0);
  }

  function fillUsage(data) {
    if (!data) {
      summary('size', '–');
      summary('idle', '–');
      return;
    }
    usageByName = data.projects;
    var total = 0, idle = 0;
    rows.forEach(function (row) {
      var u = usageByName[row.dataset.name];
      if (!u) { return; }
      var cells = { size: cell(row, 'size'), rows: cell(row, 'rows'), users: cell(row, 'users'), signin: cell(row, 'signin') };
      cells.size.textContent = D.format.bytes(u.databaseBytes + (u.storageBytes || 0));
      cells.size.title = D.format.bytes(u.databaseBytes) + ' in the database, ' + D.format.bytes(u.storageBytes) +
        ' in ' + D.format.count(u.storageObjects) + ' files' +
        (u.growth ? '; ' + (u.growth.databaseBytes >= 0 ? '+' : '') + D.format.bytes(u.growth.databaseBytes) + ' in a day' : '');
      cells.rows.textContent = (u.rowsApproximate ? '≈' : '') + D.format.count(u.rows);
      cells.users.textContent = u.users === null ? 'shared' : D.format.count(u.users);
      cells.signin.textContent = u.users === null ? '–' : D.format.ago(u.lastSignInAt, now);
      if (u.growth && u.growth.rows > 0) { cells.rows.classList.add('growing'); cells.rows.title = '+' + D.format.count(u.growth.rows) + ' rows in a day'; }
      var isIdle = D.idle(u, now);
      row.setAttribute('data-idle', String(isIdle));
      if (isIdle) { idle++; }
      total += (u.databaseBytes || 0) + (u.storageBytes || 0);
    });
    summary('size', D.format.bytes(total));
    summary('idle', String(idle));
    if (inputs.health.value === 'idle') { apply(); }
  }

  function checkHealth() {
    if (window.location.protocol === 'file:') {
      // Opened from disk: the checks belong to the dashboard the stack serves.
      rows.forEach(function (row) { setHealth(row, { state: 'unknown', detail: 'open the dashboard the stack serves' }); });
      summarizeHealth();
      document.body.setAttribute('data-checks', 'done');
      return Promise.resolve();
    }
    return D.queue(rows, 6, function (row) {
      return D.probe(row.dataset.healthUrl).then(function (result) {
        setHealth(row, result);
        if (inputs.health.value) { apply(); }
      });
    }).then(function () {
      summarizeHealth();
      document.body.setAttribute('data-checks', 'done');
    });
  }

  form.addEventListener('submit', function (event) { event.preventDefault(); });
  inputs.q.addEventListener('input', apply);
  ['template', 'auth', 'health'].forEach(function (k) { inputs[k].addEventListener('change', apply); });
  inputs.sort.addEventListener('change', function () { direction = 1; sort(inputs.sort.value); });
  table.tHead.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-sort]');
    if (!button) { return; }
    var key = button.dataset.sort;
    direction = inputs.sort.value === key ? -direction : 1;
    inputs.sort.value = key;
    sort(key);
  });
  document.getElementById('clear-filters').addEventListener('click', function () {
    inputs.q.value = ''; inputs.template.value = ''; inputs.auth.value = ''; inputs.health.value = '';
    apply();
    inputs.q.focus();
  });

  restore();
  if (inputs.sort.value !== 'name' || direction < 0) { sort(inputs.sort.value); }
  apply();
  document.body.setAttribute('data-ready', 'true');
  if (window.performance && performance.mark) { performance.mark('dashboard-search-ready'); }  // bench/dashboard.py
  document.body.setAttribute('data-checks', 'running');
  D.usage(section.dataset.usageUrl).then(function (data) {
    fillUsage(data);
    document.body.setAttribute('data-usage', data ? 'loaded' : 'none');
    if (inputs.sort.value !== 'name') { sort(inputs.sort.value); }
  });
  checkHealth();
}());
