/* Status page: the browser checks every health URL itself and shows what it can prove.
 * Same origin (the dashboard's own /status/<service>, see components/status_probes.py):
 * the real status code decides, 2xx is up, anything else is down. Another origin: up or
 * down only when its CORS headers let this page read the status; an answer the page may
 * not read (opaque) or a redirect is unknown, never up. A network error or the timeout is
 * down. Every check ends in up, down or unknown. */
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

  function sameOrigin(url) {
    try {
      var origin = window.location.origin;
      return origin !== 'null' && new URL(url, window.location.href).origin === origin;
    } catch (e) {
      return false;
    }
  }

  function judge(response) {
    if (response.type === 'opaqueredirect') {
      return { state: 'unknown', detail: 'redirected; the status is not visible here' };
    }
    if (response.ok) { return { state: 'up', detail: 'HTTP ' + response.status }; }
    return { state: 'down', detail: 'HTTP ' + response.status };
  }

  function request(url, mode, signal) {
    return fetch(url, {
      mode: mode, cache: 'no-store', signal: signal,
      redirect: mode === 'no-cors' ? 'follow' : 'manual',  // fetch refuses no-cors without 'follow'
      credentials: mode === 'same-origin' ? 'same-origin' : 'omit'
    });
  }

  function crossOrigin(url, signal) {
    return request(url, 'cors', signal).then(judge, function () {
      // Unreadable or unreachable: an opaque answer tells them apart, never the status.
      return request(url, 'no-cors', signal).then(function () {
        return { state: 'unknown', detail: 'answered, but another origin hides its status from this page' };
      }, function () {
        return { state: 'down', detail: 'unreachable' };
      });
    });
  }

  function probe(url) {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var signal = controller ? controller.signal : undefined;
    var timer;
    var timeout = new Promise(function (resolve) {
      timer = window.setTimeout(function () {
        if (controller) { controller.abort(); }
        resolve({ state: 'down', detail: 'no answer in ' + TIMEOUT_MS / 1000 + ' s' });
      }, TIMEOUT_MS);
    });
    var answer;
    try {
      answer = sameOrigin(url)
        ? request(url, 'same-origin', signal).then(judge, function () { return { state: 'down', detail: 'unreachable' }; })
        : crossOrigin(url, signal);
    } catch (e) {
      answer = Promise.resolve({ state: 'down', detail: 'unreachable' });
    }
    return Promise.race([answer, timeout]).then(function (result) {
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
