/* Status page: the browser checks every health URL itself and shows what it can prove
 * (window.Dashboard.probe in health.js). Same origin (the dashboard's own /status/<service>
 * and /status/project/<label>, see components/core/status_probes.py): the real status code
 * decides, 2xx is up, anything else is down. Another origin: up or down only when its CORS
 * headers let this page read the status; an answer the page may not read (opaque) or a
 * redirect is unknown, never up. A network error or the timeout is down. Every check ends
 * in up, down or unknown. Shared services first, then each project's own (its GoTrue). */
(function () {
  'use strict';

  var D = window.Dashboard;
  var LABELS = { checking: 'checking', up: 'up', down: 'down', unknown: 'unknown' };

  function setState(item, state, detail, checked) {
    var badge = item.querySelector('.state');
    var when = item.querySelector('.checked-at');
    item.setAttribute('data-state', state);
    badge.setAttribute('data-state', state);
    badge.textContent = LABELS[state];
    badge.title = detail || '';
    if (!checked) {
      if (state !== 'checking') { when.textContent = 'not checked (' + detail + ')'; }
      return;
    }
    var now = new Date();
    var time = document.createElement('time');
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString() + (detail ? ' (' + detail + ')' : '');
    when.textContent = '';
    when.appendChild(time);
  }

  function check(item) {
    var url = item.getAttribute('data-health-url');
    if (url) { setState(item, 'checking', '', false); }
    return D.probe(url).then(function (result) {
      setState(item, result.state, result.detail, result.checked);
      return result.state;
    });
  }

  function counted(states) {
    var counts = { up: 0, down: 0, unknown: 0 };
    states.forEach(function (state) { counts[state] = (counts[state] || 0) + 1; });
    return counts.up + ' up, ' + counts.down + ' down, ' + counts.unknown + ' unknown.';
  }

  function show(id, text) {
    var element = document.getElementById(id);
    if (element) { element.textContent = text; }
  }

  function filterProjects() {
    var only = document.getElementById('only-down');
    var rows = document.querySelectorAll('tr.project-service');
    Array.prototype.forEach.call(rows, function (row) {
      row.hidden = Boolean(only && only.checked) && row.getAttribute('data-state') !== 'down';
    });
  }

  function checkAll() {
    var shared = Array.prototype.slice.call(document.querySelectorAll('.service'));
    var projects = Array.prototype.slice.call(document.querySelectorAll('tr.project-service'));
    document.body.setAttribute('data-checks', 'running');
    var button = document.getElementById('recheck');
    if (button) { button.disabled = true; }
    var first = Promise.all(shared.map(check)).then(function (states) { show('status-summary', counted(states)); });
    var second = D.queue(projects, 6, check).then(function (states) {
      show('project-summary', counted(states));
      filterProjects();
    });
    return Promise.all([first, second]).then(function () {
      document.body.setAttribute('data-checks', 'done');
      if (button) { button.disabled = false; }
    });
  }

  var button = document.getElementById('recheck');
  if (button) { button.addEventListener('click', function () { checkAll(); }); }
  var only = document.getElementById('only-down');
  if (only) { only.addEventListener('change', filterProjects); }
  checkAll();
}());
