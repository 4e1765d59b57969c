/* Shared by the pages: health checks (same rules as the status page, see status.js) and the
 * usage document the stack measures (usage/usage.json on the dashboard's origin).
 * window.Dashboard = { probe(url), queue(items, limit, fn), usage(url), format: {...} } */
(function () {
  'use strict';

  var TIMEOUT_MS = 3000;

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

  /* up, down or unknown for one health URL; never rejects. */
  function probe(url) {
    if (!url) { return Promise.resolve({ state: 'unknown', detail: 'no health URL', checked: false }); }
    if (window.location.protocol === 'https:' && /^http:/i.test(url)) {
      return Promise.resolve({ state: 'unknown', detail: 'an https page cannot check an http URL', checked: false });
    }
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
      result.checked = true;
      return result;
    });
  }

  /* Runs fn over items, at most `limit` at a time (a browser opens ~6 connections per origin
   * anyway; this keeps hundreds of checks from queueing behind each other's timeouts). */
  function queue(items, limit, fn) {
    var next = 0;
    var results = new Array(items.length);
    function worker() {
      if (next >= items.length) { return Promise.resolve(); }
      var i = next++;
      return Promise.resolve(fn(items[i], i)).then(function (r) { results[i] = r; return worker(); });
    }
    var workers = [];
    for (var w = 0; w < Math.min(limit, items.length); w++) { workers.push(worker()); }
    return Promise.all(workers).then(function () { return results; });
  }

  /* The usage document, or null (opened from disk, not collected yet, unreadable). */
  function usage(url) {
    if (!url || window.location.protocol === 'file:') { return Promise.resolve(null); }
    return fetch(url, { cache: 'no-store', credentials: 'same-origin' }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      return data && typeof data === 'object' && data.projects && typeof data.projects === 'object' ? data : null;
    }, function () { return null; });
  }

  var UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

  function bytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) { return '–'; }
    var i = 0;
    while (Math.abs(n) >= 1000 && i < UNITS.length - 1) { n /= 1000; i++; }
    return (i === 0 ? String(n) : n.toFixed(Math.abs(n) < 10 ? 1 : 0)) + ' ' + UNITS[i];
  }

  function count(n) {
    return typeof n === 'number' && isFinite(n) ? n.toLocaleString('en-US') : '–';
  }

  function ago(iso, now) {
    if (!iso) { return 'never'; }
    var t = Date.parse(iso);
    if (isNaN(t)) { return '–'; }
    var minutes = Math.max(0, Math.round((now - t) / 60000));
    if (minutes < 1) { return 'just now'; }
    if (minutes < 60) { return minutes + ' min ago'; }
    var hours = Math.round(minutes / 60);
    if (hours < 48) { return hours + ' h ago'; }
    return Math.round(hours / 24) + ' d ago';
  }

  var IDLE_MS = 7 * 24 * 3600 * 1000;

  /* No sign-in for 7 days and nothing grew in the last day (when that is known). */
  function idle(u, now) {
    if (!u) { return false; }
    var signedIn = u.lastSignInAt ? Date.parse(u.lastSignInAt) : NaN;
    var quiet = !u.growth || (u.growth.rows === 0 && u.growth.storageBytes === 0);
    return (isNaN(signedIn) || now - signedIn > IDLE_MS) && quiet;
  }

  window.Dashboard = {
    probe: probe, queue: queue, usage: usage,
    format: { bytes: bytes, count: count, ago: ago }, idle: idle
  };
}());
