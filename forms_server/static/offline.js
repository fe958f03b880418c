/* offline.js: drafts, the submission queue and the service worker, on top of forms.js.
 * The design (stores, states, the one-window lock) is in docs/offline.md. A draft moves
 * to the queue, and back to be corrected, in one IndexedDB transaction: it is always in
 * exactly one place. A queued item is sent through FormsApp.send with its own id, so a
 * resend is answered 200 and stored once.
 */
(function () {
  'use strict';
  var App = window.FormsApp;
  var E = window.FormsExpr;
  var form = document.getElementById('fs-form');
  if (!App || !form || !window.indexedDB || !window.Promise) return;
  // Only a new submission's page has drafts and a queue, not the edit of a stored one.
  if (form.getAttribute('action') !== '/forms/' + encodeURIComponent(App.definition.id)) return;
  var S = JSON.parse(document.getElementById('fs-offline-strings').textContent);
  var def = App.definition;
  var lang = form.getAttribute('data-lang');
  var page = location.pathname + '?lang=' + encodeURIComponent(lang);
  var idInput = form.elements._id;
  var startInput = form.elements._started_at;
  var drafted = false; // this page's answers are in the drafts store
  var sent = false; // submitted: no more draft saving
  var readOnly = false;
  var ready = false;
  var flash = sessionStorage.getItem('fs-flash') || '';
  var chan = window.BroadcastChannel ? new BroadcastChannel('forms-offline') : null;
  var F = {};
  var Q = {};
  (function walk(qs) {
    qs.forEach(function (q) {
      Q[q.name] = q;
      F[q.name] = { type: q.type, repeats: q.repeats || [] };
      if (q.questions) walk(q.questions);
    });
  })(def.questions);
  sessionStorage.removeItem('fs-flash');

  // -- IndexedDB ------------------------------------------------------------------------
  var opened;
  function db() {
    return opened || (opened = new Promise(function (ok, fail) {
      var r = indexedDB.open('forms-offline', 1);
      r.onupgradeneeded = function () {
        r.result.createObjectStore('drafts', { keyPath: 'id' });
        r.result.createObjectStore('queue', { keyPath: 'id' });
        r.result.createObjectStore('meta', { keyPath: 'k' });
      };
      r.onsuccess = function () { ok(r.result); };
      r.onerror = function () { fail(r.error); };
    }));
  }
  // fn(store, ...) in one transaction; resolves with its last request's result once committed.
  function tx(names, fn) {
    return db().then(function (d) {
      return new Promise(function (ok, fail) {
        var t = d.transaction(names, 'readwrite');
        var req = fn.apply(null, names.map(function (n) { return t.objectStore(n); }));
        t.oncomplete = function () { ok(req && req.result); };
        t.onerror = t.onabort = function () { fail(t.error); };
      });
    });
  }
  function all(name) { return tx([name], function (s) { return s.getAll(); }); }
  function get(name, key) { return tx([name], function (s) { return s.get(key); }); }
  function changed() {
    if (chan) chan.postMessage('changed');
    return refresh();
  }

  // -- drafts ---------------------------------------------------------------------------
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = [].map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join('-');
  }
  function clone(v) { return JSON.parse(JSON.stringify(v)); }
  function answered(v) {
    if (Array.isArray(v)) return v.some(answered);
    if (v && typeof v === 'object') {
      return Object.keys(v).some(function (k) { return Q[k] && Q[k].type !== 'calculate' && answered(v[k]); });
    }
    return v != null && v !== '';
  }
  function files() {
    var out = {};
    [].forEach.call(form.querySelectorAll('input[type=file]'), function (el) {
      if (el.files && el.files[0]) out[el.name] = el.files[0];
    });
    return out;
  }
  function choiceLabel(name, value) {
    var q = Q[name] || {};
    var c = (q.choices || (def.choice_lists || {})[q.choice_list] || []).filter(function (c) { return c.value === value; })[0];
    return c && c.label ? c.label[lang] || c.label[Object.keys(c.label)[0]] : '';
  }
  // The form's instance_name for these answers, as the server will name the submission.
  function instanceName() {
    if (!def.instance_name || !E) return '';
    try {
      return E.toString(E.evaluate(def.instance_name,
        { answers: App.state.values, fields: F, now: App.now, choiceLabel: choiceLabel }));
    } catch (err) {
      return '';
    }
  }
  function record(extra) {
    var d = { id: idInput.value, formId: def.id, version: def.version, lang: lang, startedAt: startInput.value,
      updatedAt: new Date().toISOString(), name: instanceName(), answers: clone(App.state.answers), files: files() };
    for (var k in extra) d[k] = extra[k];
    return d;
  }
  var timer = null;
  function later() {
    if (readOnly || sent) return;
    clearTimeout(timer);
    timer = setTimeout(save, 400);
  }
  function save() {
    clearTimeout(timer);
    timer = null;
    if (readOnly || sent || (!drafted && !answered(App.state.answers))) return Promise.resolve();
    adopt();
    return tx(['drafts'], function (s) { return s.put(record()); }).then(changed);
  }
  // This page's answers become a draft: its window holds it, its URL and links name it.
  function adopt() {
    if (drafted) return;
    drafted = true;
    lock(idInput.value, false);
    history.replaceState(null, '', page + '#draft=' + idInput.value);
    linkLanguages();
  }
  function linkLanguages() {
    [].forEach.call(document.querySelectorAll('nav.langs a[hreflang]'), function (a) {
      a.href = '?lang=' + encodeURIComponent(a.hreflang) + '#draft=' + idInput.value;
    });
  }
  // Answers back onto the page: entries first, twice so that a choice filtered by a later
  // answer comes back too; the server's errors (422) shown on their questions.
  function restore(d) {
    idInput.value = d.id;
    startInput.value = d.startedAt || startInput.value;
    var kept = d.files || {};
    Object.keys(kept).forEach(function (k) {
      try {
        var dt = new DataTransfer();
        dt.items.add(kept[k]);
        form.elements[k].files = dt.files;
      } catch (err) { /* the file stays in the draft and is asked again */ }
    });
    for (var pass = 0; pass < 2; pass++) fill(def.questions, d.answers || {}, '');
    var errs = d.errors || {};
    Object.keys(errs).forEach(function (k) {
      App.state.touched[k] = 1;
      App.state.server[k] = errs[k];
    });
    App.evaluateAll();
  }
  function fill(qs, obj, prefix) {
    qs.forEach(function (q) {
      var key = prefix + q.name;
      if (q.type === 'group') fill(q.questions, obj, prefix);
      else if (q.type === 'repeat') {
        var list = obj[q.name] || [];
        while (entries(key) < list.length) App.addEntry(key, true);
        list.forEach(function (e, i) { fill(q.questions, e, key + '.' + i + '.'); });
      } else if (q.type !== 'note' && obj[q.name] !== undefined) App.set(key, obj[q.name]);
    });
  }
  function entries(key) {
    var parts = key.split('.');
    var o = App.state.answers;
    for (var i = 0; i + 1 < parts.length; i += 2) o = ((o || {})[parts[i]] || [])[+parts[i + 1]];
    return ((o || {})[parts[parts.length - 1]] || []).length;
  }

  // -- one window per draft ---------------------------------------------------------------
  function lock(id, steal) {
    if (!navigator.locks) return;
    navigator.locks.request('fs-draft:' + id, steal ? { steal: true } : { ifAvailable: true }, function (held) {
      if (!held) return setReadOnly();
      return new Promise(function () {}); // held while this page lives
    }).catch(setReadOnly); // another window took the draft over
  }
  function setReadOnly() {
    readOnly = true;
    clearTimeout(timer);
    timer = null;
    [].forEach.call(form.elements, function (el) { el.disabled = true; });
    refresh();
  }

  // -- the queue ------------------------------------------------------------------------
  App.submit = function (payload) {
    if (readOnly) return Promise.resolve({ httpStatus: 423 });
    clearTimeout(timer);
    timer = null;
    sent = true;
    var item = record({ action: form.getAttribute('action'), completedAt: payload.completedAt, state: 'waiting',
      fields: payload.fields.concat([['_version', String(def.version)]]), queuedAt: new Date().toISOString(), tries: 0 });
    return tx(['drafts', 'queue'], function (d, q) {
      d.delete(item.id);
      return q.put(item);
    }).then(function () {
      changed();
      return deliver(item).then(function (reply) {
        var code = reply.httpStatus;
        if (reply.delivered || code === 409) return reply;
        if (code === 422) {
          sent = false;
          adopt();
          return tx(['drafts', 'queue'], function (d, q) {
            q.delete(item.id);
            return d.put(record());
          }).then(changed).then(function () { return reply.errors && Object.keys(reply.errors).length ? reply : { httpStatus: 422 }; });
        }
        sessionStorage.setItem('fs-flash', code === 401 ? S.signin : S.queued);
        return { httpStatus: 202, url: code === 401 ? '/login?next=' + encodeURIComponent(page) : page };
      });
    }, function () {
      sent = false; // no IndexedDB (a private window?): send as forms.js alone would
      return App.send(payload);
    });
  };
  // Send one queued item; record the outcome. Resolves with the reply (httpStatus 0: unreachable).
  function deliver(item) {
    var csrf = form.elements._csrf.value; // this page's token: the cookie's now
    var fields = item.fields.map(function (f) { return f[0] === '_csrf' ? ['_csrf', csrf] : f; });
    return App.send({ id: item.id, formId: item.formId, fields: fields, completedAt: item.completedAt, action: item.action })
      .catch(function () { return { httpStatus: 0 }; })
      .then(function (reply) {
        var code = reply.httpStatus;
        var store;
        if ((code === 200 || code === 201) && String(reply.id).toLowerCase() === item.id.toLowerCase()) {
          reply.delivered = true;
          store = tx(['queue', 'meta'], function (q, m) {
            q.delete(item.id);
            return m.put({ k: 'lastSent', at: new Date().toISOString() });
          });
        } else {
          item.status = code;
          if (code === 409) item.state = 'conflict';
          else if (code >= 400 && code < 500 && [401, 403, 408, 429].indexOf(code) < 0) {
            item.state = 'invalid';
            item.errors = reply.errors || {};
            item.error = reply.error || '';
          } else { // signed out; unreachable, 5xx, or not our server's answer (a captive portal)
            item.state = code === 401 || code === 403 ? 'signin' : 'waiting';
            item.tries = (item.tries || 0) + 1;
            item.nextTry = Date.now() + Math.min(1800, 15 * Math.pow(2, item.tries)) * 1000;
          }
          store = tx(['queue'], function (q) { // unless another window delivered it meanwhile
            var r = q.get(item.id);
            r.onsuccess = function () { if (r.result) q.put(item); };
            return r;
          });
        }
        return store.then(changed).then(function () { return reply; });
      });
  }
  var flushing = null;
  var again = 0; // asked while sending: 1 the due ones, 2 all, once this round ends
  // Send what waits, oldest first; `all_` ignores the back-off (load, online, "send now").
  function flush(all_) {
    if (flushing) {
      again = Math.max(again, all_ ? 2 : 1);
      return flushing;
    }
    function run() {
      return all('queue').then(function (items) {
        var now = Date.now();
        var todo = items.filter(function (i) {
          return (i.state === 'waiting' || i.state === 'signin') && (all_ || !(i.nextTry > now));
        }).sort(function (a, b) { return a.queuedAt < b.queuedAt ? -1 : 1; });
        return todo.reduce(function (p, item) {
          return p.then(function (go) {
            return go && deliver(item).then(function (r) { return r.httpStatus && r.httpStatus !== 401 && r.httpStatus !== 403; });
          });
        }, Promise.resolve(true));
      });
    }
    var p = navigator.locks ? navigator.locks.request('fs-flush', { ifAvailable: true }, function (l) { return l && run(); }) : run();
    function done() {
      var next = again;
      flushing = null;
      again = 0;
      if (next) flush(next > 1);
    }
    return (flushing = p.then(done, done));
  }

  // -- what the person sees -----------------------------------------------------------------
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var a in attrs || {}) e.setAttribute(a, attrs[a]);
    if (text) e.textContent = text;
    return e;
  }
  function when(iso) {
    try {
      return new Date(iso).toLocaleString(lang, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });
    } catch (err) {
      return iso.slice(0, 16).replace('T', ' ');
    }
  }
  function fmt(s, p) { return s.replace(/\{(\w+)\}/g, function (m, k) { return p[k]; }); }
  var bar = el('div', { id: 'fs-offline', 'class': 'offline' });
  var count = el('p', { 'class': 'count', role: 'status', 'aria-live': 'polite' });
  var info = el('div');
  var list = el('section', { id: 'fs-drafts', 'class': 'drafts', 'aria-labelledby': 'fs-drafts-h' });
  bar.appendChild(count);
  bar.appendChild(info);
  list.hidden = true;
  var main = form.parentNode;
  main.insertBefore(bar, main.firstChild);
  main.insertBefore(list, document.getElementById('fs-summary'));

  function refresh() {
    return Promise.all([all('queue'), all('drafts'), get('meta', 'lastSent')]).then(function (r) { draw(r[0], r[1], r[2]); });
  }
  function draw(queue, drafts, last) {
    var n = queue.length;
    var text = fmt(S.waiting, { n: n }) + (last ? ' · ' + fmt(S.lastSent, { time: when(last.at) }) : '');
    if (count.textContent !== text) count.textContent = text;
    bar.setAttribute('data-waiting', n);
    info.textContent = '';
    if (n) info.appendChild(el('p', { 'class': 'keep' }, S.keep));
    if (readOnly) {
      var p = el('p', { 'class': 'bad' }, S.elsewhere + ' ');
      p.appendChild(el('button', { type: 'button', 'class': 'btn', 'data-take': '' }, S.takeOver));
      info.appendChild(p);
    }
    if (queue.some(function (i) { return i.state === 'signin'; })) {
      var s = el('p', { 'class': 'bad' }, S.signin + ' ');
      s.appendChild(el('a', { href: '/login?next=' + encodeURIComponent(page) }, S.signinLink));
      info.appendChild(s);
    }
    if (flash) info.appendChild(el('p', {}, flash));
    var pending = queue.some(function (i) { return i.state === 'waiting' || i.state === 'signin'; });
    if (pending && navigator.onLine !== false) info.appendChild(el('button', { type: 'button', 'class': 'btn', 'data-send': '' }, S.sendNow));
    if (ready && !n) info.appendChild(el('p', { 'class': 'hint' }, S.ready));

    var rows = drafts.filter(function (d) { return d.formId === def.id && d.id !== idInput.value; }).map(function (d) {
      return [d.name || fmt(S.started, { time: when(d.startedAt || d.updatedAt) }), '', [['resume', d.id, S.resume], ['discard', d.id, S.discard]]];
    }).concat(queue.filter(function (i) { return i.formId === def.id && (i.state === 'invalid' || i.state === 'conflict'); }).map(function (i) {
      return [i.name || fmt(S.started, { time: when(i.startedAt || i.queuedAt) }), i.state === 'conflict' ? S.conflict : S.fix + (i.error ? '：' + i.error : ''),
        [i.state === 'conflict' ? ['remove', i.id, S.remove] : ['open', i.id, S.open]]];
    }));
    list.textContent = '';
    list.hidden = !rows.length;
    list.appendChild(el('h2', { id: 'fs-drafts-h' }, S.drafts));
    var ul = list.appendChild(el('ul'));
    rows.forEach(function (r) {
      var li = ul.appendChild(el('li', {}, r[0]));
      if (r[1]) li.appendChild(el('span', { 'class': 'bad' }, r[1]));
      var acts = li.appendChild(el('span', { 'class': 'acts' }));
      r[2].forEach(function (a) { acts.appendChild(el('button', { type: 'button', 'class': 'btn', 'data-do': a[0], value: a[1] }, a[2])); });
    });
  }
  function go(l, id) {
    history.replaceState(null, '', location.pathname + '?lang=' + encodeURIComponent(l) + '#draft=' + id);
    location.reload();
  }
  list.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-do]');
    if (!b) return;
    var id = b.value;
    var what = b.getAttribute('data-do');
    if (what === 'resume') get('drafts', id).then(function (d) { if (d) go(d.lang, id); });
    else if (what === 'discard' && window.confirm(S.discardAsk)) tx(['drafts'], function (s) { return s.delete(id); }).then(changed);
    else if (what === 'remove' && window.confirm(S.removeAsk)) tx(['queue'], function (s) { return s.delete(id); }).then(changed);
    else if (what === 'open') {
      get('queue', id).then(function (i) {
        var d = { id: i.id, formId: i.formId, version: i.version, lang: i.lang, startedAt: i.startedAt, updatedAt: i.queuedAt, name: i.name,
          answers: i.answers, files: i.files, errors: i.errors };
        return tx(['drafts', 'queue'], function (ds, q) {
          q.delete(id);
          return ds.put(d);
        }).then(function () { go(i.lang, id); });
      });
    }
  });
  bar.addEventListener('click', function (e) {
    if (e.target.closest('[data-send]')) flush(true);
    else if (e.target.closest('[data-take]')) {
      sessionStorage.setItem('fs-steal', idInput.value);
      location.reload();
    }
  });

  // -- start ----------------------------------------------------------------------------
  ['input', 'change', 'click'].forEach(function (t) { form.addEventListener(t, later); });
  window.addEventListener('pagehide', function () { if (timer) save(); });
  document.addEventListener('click', function (e) {
    var a = e.target.closest('nav.langs a');
    if (a && timer) {
      e.preventDefault();
      save().then(function () { location.assign(a.href); });
    }
  });
  window.addEventListener('online', function () { flush(true); });
  setInterval(function () { if (navigator.onLine !== false) flush(false); }, 15000);
  if (chan) chan.onmessage = refresh;
  if (navigator.storage && navigator.storage.persist) {
    navigator.storage.persisted().then(function (p) { return p || navigator.storage.persist(); }).catch(function () {});
  }

  var wanted = /^#draft=([0-9a-f-]{36})$/i.exec(location.hash);
  var steal = sessionStorage.getItem('fs-steal');
  sessionStorage.removeItem('fs-steal');
  var started = (wanted ? get('drafts', wanted[1]) : Promise.resolve(null)).then(function (d) {
    if (d && d.formId === def.id) {
      restore(d);
      drafted = true;
      lock(d.id, steal === d.id);
      linkLanguages();
    } else {
      // A page from the cache carries the id it was cached with: every new draft gets its own.
      idInput.value = uuid();
      startInput.value = new Date().toISOString();
      if (wanted) history.replaceState(null, '', page);
    }
    return refresh();
  }).then(function () { return flush(true); });

  var cached = new Promise(function (ok) {
    var sw = navigator.serviceWorker;
    if (!sw) return ok(false);
    sw.register('/sw.js', { scope: '/forms/' }).then(function () { return sw.ready; }).then(function (reg) {
      var ch = new MessageChannel();
      ch.port1.onmessage = function (e) { ok(!!(e.data && e.data.ok)); };
      reg.active.postMessage({ type: 'cache', form: def.id, lang: lang }, [ch.port2]);
    }).catch(function () { ok(false); });
  }).then(function (ok) {
    ready = ok;
    return started.then(refresh).then(function () { return ok; });
  });

  window.FormsOffline = {
    ready: cached, started: started, flush: flush, refresh: refresh, save: save,
    queue: function () { return all('queue'); }, drafts: function () { return all('drafts'); }
  };
})();
