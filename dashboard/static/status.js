/* Status page: the browser fetches every health URL itself.
 * mode 'no-cors': a cross-origin answer is opaque, which still proves the service
 * answered, so opaque counts as up; a same-origin answer must be 2xx/3xx. A network
 * error or the timeout counts as down. Every check ends in up, down or unknown. */
(function () {
  'use strict';

  var TIMEOUT_MS = 3000;
  var LABELS = { checking: 'checking', up: 'up', down: 'down', unknown: 'unknown' };

  function setState(item, state, detail, checked) {
    var badge = item.querySelector('.state');
    var when = item.querySelector('.checked-at');
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

  function blockedAsMixedContent(url) {
    return window.location.protocol === 'https:' && /^http:/i.test(url);
  }

  function probe(url) {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer;
    var timeout = new Promise(function (resolve) {
      timer = window.setTimeout(function () {
        if (controller) { controller.abort(); }
        resolve({ state: 'down', detail: 'no answer in ' + TIMEOUT_MS / 1000 + ' s' });
      }, TIMEOUT_MS);
    });
    var request;
    try {
      request = fetch(url, {
        mode: 'no-cors', cache: 'no-store', credentials: 'omit', redirect: 'follow',
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        if (response.type === 'opaque' || response.type === 'opaqueredirect' || response.ok) {
          return { state: 'up', detail: '' };
        }
        return { state: 'down', detail: 'HTTP ' + response.status };
      }, function () {
        return { state: 'down', detail: 'unreachable' };
      });
    } catch (e) {
      request = Promise.resolve({ state: 'down', detail: 'unreachable' });
    }
    return Promise.race([request, timeout]).then(function (result) {
      window.clearTimeout(timer);
      return result;
    });
  }

  function check(item) {
    var url = item.getAttribute('data-health-url');
    if (!url) {
      setState(item, 'unknown', 'no health URL', false);
      return Promise.resolve('unknown');
    }
    if (blockedAsMixedContent(url)) {
      setState(item, 'unknown', 'an https page cannot check an http URL', false);
      return Promise.resolve('unknown');
    }
    setState(item, 'checking', '', false);
    return probe(url).then(function (result) {
      setState(item, result.state, result.detail, true);
      return result.state;
    });
  }

  function summarize(states) {
    var counts = { up: 0, down: 0, unknown: 0 };
    states.forEach(function (state) { counts[state] = (counts[state] || 0) + 1; });
    var summary = document.getElementById('status-summary');
    if (summary) {
      summary.textContent = counts.up + ' up, ' + counts.down + ' down, ' + counts.unknown + ' unknown.';
    }
    document.body.setAttribute('data-checks', 'done');
  }

  function checkAll() {
    var items = Array.prototype.slice.call(document.querySelectorAll('.service'));
    document.body.setAttribute('data-checks', 'running');
    var button = document.getElementById('recheck');
    if (button) { button.disabled = true; }
    return Promise.all(items.map(check)).then(summarize).then(function () {
      if (button) { button.disabled = false; }
    });
  }

  var button = document.getElementById('recheck');
  if (button) { button.addEventListener('click', function () { checkAll(); }); }
  checkAll();
}());
