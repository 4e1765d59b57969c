/* A project's page: its services' health (health.js) and what it uses (usage/usage.json),
 * with each table's row count. */
(function () {
  'use strict';

  var D = window.Dashboard;
  var section = document.getElementById('usage');
  if (!section) { return; }
  var now = Date.now();

  function cell(key) { return section.querySelector('[data-usage="' + key + '"]'); }

  function signed(n, fmt) { return (n > 0 ? '+' : '') + fmt(n); }

  Array.prototype.forEach.call(section.querySelectorAll('.project-service'), function (item) {
    var fromDisk = window.location.protocol === 'file:';
    (fromDisk ? Promise.resolve({ state: 'unknown', detail: 'open the dashboard the stack serves to check it' })
      : D.probe(item.getAttribute('data-health-url'))).then(function (result) {
      var badge = item.querySelector('.state');
      badge.setAttribute('data-state', result.state);
      badge.textContent = result.state;
      item.querySelector('.checked-at').textContent = result.detail || '';
    });
  });

  D.usage(section.dataset.usageUrl).then(function (data) {
    var u = data && data.projects[section.dataset.project];
    if (!u) {
      cell('collected').textContent = window.location.protocol === 'file:'
        ? 'not available from a file: open the dashboard the stack serves' : 'not measured yet';
      return;
    }
    cell('size').textContent = D.format.bytes(u.databaseBytes);
    var tables = Object.keys(u.tables || {}).map(function (t) { return t + ' ' + D.format.count(u.tables[t]); });
    cell('rows').textContent = (u.rowsApproximate ? '≈' : '') + D.format.count(u.rows) + (tables.length ? ' (' + tables.join(', ') + ')' : '');
    cell('users').textContent = u.users === null ? 'the stack\u2019s shared users' : D.format.count(u.users);
    cell('signin').textContent = u.users === null ? '–' : D.format.ago(u.lastSignInAt, now);
    cell('storage').textContent = D.format.count(u.storageObjects) + ' files, ' + D.format.bytes(u.storageBytes);
    var g = u.growth;
    cell('growth').textContent = g
      ? signed(g.rows, D.format.count) + ' rows, ' + signed(g.databaseBytes, D.format.bytes) + ' data, ' +
        signed(g.storageBytes, D.format.bytes) + ' files' + (g.users === null ? '' : ', ' + signed(g.users, D.format.count) + ' accounts')
      : 'not known yet (the first sample is less than a day old)';
    if (u.lastMigration) {
      cell('migration').textContent = u.lastMigration.filename + ', applied ' + D.format.ago(u.lastMigration.appliedAt, now);
    }
    cell('collected').textContent = D.format.ago(data.collectedAt, now) + (D.idle(u, now) ? ' · idle: no sign-in for 7 days' : '');
  });
}());
