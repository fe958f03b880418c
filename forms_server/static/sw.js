/* sw.js: form pages that open without a connection. Registered by offline.js with scope /forms/.
 *
 * Caches (the Cache API; never a POST, never a page outside /forms/{id}):
 *   fs-form:<id>:<version>  each language's page of one form, and its manifest
 *                           (/forms/<id>/offline.json) written last: a cache without
 *                           its manifest is incomplete and never used.
 *   fs-static               the static files, by their content-hashed URLs (?v=...).
 * A page asks for its form ({type: 'cache', form, lang}); when the server's manifest
 * names another version, every page of the new version is fetched into a new cache
 * and only then is the old one deleted, so a phone always has one whole version.
 * Navigations to /forms/<id>: the network first, the cached page after TIMEOUT_MS or
 * when the network fails (or answers 5xx). Cache keys are explicit URLs,
 * /forms/<id>?lang=<tag>; a page asked without ?lang= (or with a tag such as zh-CN)
 * while offline is redirected to the cached language that fits, never matched by
 * Accept-Language. Everything else (POSTs, /api, /login, /staff, /data, done pages)
 * goes to the network untouched.
 */
'use strict';
var STATIC = 'fs-static';
var PREFIX = 'fs-form:';
var TIMEOUT_MS = 4000;
var PAGE = /^\/forms\/([^/]+)$/;
var EXACT = { ignoreVary: true };

self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (e) { e.waitUntil(self.clients.claim()); });

self.addEventListener('fetch', function (e) {
  var req = e.request;
  var url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  var m = req.mode === 'navigate' && PAGE.exec(url.pathname);
  if (m) e.respondWith(page(e, decodeURIComponent(m[1]), url.searchParams.get('lang')));
  else if (url.pathname.indexOf('/static/') === 0 && url.searchParams.get('v')) e.respondWith(asset(req));
});

self.addEventListener('message', function (e) {
  var d = e.data || {};
  var port = e.ports && e.ports[0];
  if (d.type !== 'cache' || !d.form) return;
  e.waitUntil(sync(d.form, d.lang).then(function (r) {
    if (port) port.postMessage(r);
  }, function (err) {
    if (port) port.postMessage({ ok: false, error: String(err && err.message || err) });
  }));
});

function pageUrl(id, lang) { return '/forms/' + encodeURIComponent(id) + '?lang=' + encodeURIComponent(lang); }
function manifestUrl(id) { return '/forms/' + encodeURIComponent(id) + '/offline.json'; }

// The complete cache of a form (the newest, should two be complete), with its manifest.
function current(id) {
  return caches.keys().then(function (names) {
    names = names.filter(function (n) { return n.indexOf(PREFIX + id + ':') === 0; }).reverse();
    return (function next(i) {
      if (i >= names.length) return null;
      return caches.open(names[i]).then(function (c) {
        return c.match(manifestUrl(id), EXACT).then(function (r) {
          return r ? r.json().then(function (m) { return { cache: c, name: names[i], manifest: m }; }) : next(i + 1);
        });
      });
    })(0);
  });
}

function page(e, id, lang) {
  var net = fetch(e.request);
  var copy = net.then(function (res) { return res.clone(); });
  var stored = current(id).catch(function () { return null; });
  // Keep the visited page: a fresh copy of the same version (the newest CSRF token).
  e.waitUntil(Promise.all([copy, stored]).then(function (r) {
    var res = r[0];
    var have = r[1];
    if (have && lang && res.status === 200 && res.type === 'basic' && have.manifest.languages.indexOf(lang) >= 0) {
      return have.cache.put(pageUrl(id, lang), res);
    }
  }).catch(function () {}));
  function fromCache() {
    return stored.then(function (have) {
      if (!have) return null;
      var m = have.manifest;
      var want = pick([lang, m.lang].concat(self.navigator.languages || []), m.languages);
      if (want !== lang) return Response.redirect(pageUrl(id, want), 302);
      return have.cache.match(pageUrl(id, want), EXACT);
    });
  }
  return new Promise(function (resolve) {
    var done = false;
    function answer(res) {
      if (!done && res) {
        done = true;
        resolve(res);
      }
    }
    var timer = setTimeout(function () { fromCache().then(answer); }, TIMEOUT_MS);
    net.then(function (res) {
      clearTimeout(timer);
      if (res.status >= 500) fromCache().then(function (hit) { answer(hit || res); });
      else answer(res);
    }, function () {
      clearTimeout(timer);
      fromCache().then(function (hit) { answer(hit || offline()); }, function () { answer(offline()); });
    });
  });
}

function offline() {
  var html = '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
    '<title>离线 · Offline</title><body style="font-family:sans-serif;padding:1rem">' +
    '<p>没有网络，这一页也没有保存在本机。有信号时再打开一次，它就能离线使用。</p>' +
    '<p lang="en">There is no connection and this page is not saved on this phone. Open it once with a signal ' +
    'and it will work offline.</p>';
  return new Response(html, { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
}

function asset(req) {
  return caches.open(STATIC).then(function (c) {
    return c.match(req, EXACT).then(function (hit) {
      return hit || fetch(req).then(function (res) {
        if (res.status === 200) c.put(req, res.clone());
        return res;
      });
    });
  });
}

// Bring a form's cache to the server's version; remember the language last used.
function sync(id, lang) {
  var opts = { credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  return fetch(manifestUrl(id), opts).then(function (res) {
    if (!res.ok) throw new Error('manifest ' + res.status);
    return res.json();
  }).then(function (m) {
    if (lang && m.languages.indexOf(lang) >= 0) m.lang = lang;
    var name = PREFIX + id + ':' + m.version;
    return current(id).then(function (have) {
      if (have && have.name === name) return caches.open(name).then(function (c) { return save(c, id, m); });
      return caches.open(STATIC).then(function (st) {
        var urls = m.pages.concat(m.static);
        return Promise.all(urls.map(function (u) {
          return (u.indexOf('/static/') === 0 ? st.match(u, EXACT) : Promise.resolve()).then(function (hit) {
            return hit ? null : fetch(u, opts).then(function (res) {
              if (res.status !== 200) throw new Error(u + ' ' + res.status);
              return [u, res];
            });
          });
        })).then(function (got) {
          return caches.open(name).then(function (c) {
            return Promise.all(got.filter(Boolean).map(function (g) {
              return (g[0].indexOf('/static/') === 0 ? st : c).put(g[0], g[1]);
            })).then(function () { return save(c, id, m); });
          });
        });
      }).then(prune);
    });
  }).then(function (m) {
    return { ok: true, version: m.version };
  }, function (err) { // offline, or signed out: what is kept still works
    return current(id).then(function (have) {
      if (!have) throw err;
      return { ok: true, version: have.manifest.version, stale: String(err && err.message || err) };
    });
  });
}

function save(c, id, m) {
  var body = JSON.stringify(m);
  return c.put(manifestUrl(id), new Response(body, { headers: { 'Content-Type': 'application/json' } }))
    .then(function () { return m; });
}

// Drop older versions of each form, and static files no kept form needs.
function prune() {
  return caches.keys().then(function (names) {
    var byForm = {};
    names.forEach(function (n) {
      if (n.indexOf(PREFIX) === 0) {
        var id = n.slice(PREFIX.length, n.lastIndexOf(':'));
        (byForm[id] = byForm[id] || []).push(n);
      }
    });
    return Promise.all(Object.keys(byForm).map(function (id) {
      return current(id).then(function (have) {
        return Promise.all(byForm[id].filter(function (n) { return !have || n !== have.name; }).map(function (n) {
          return caches.delete(n);
        })).then(function () { return have ? have.manifest.static : []; });
      });
    }));
  }).then(function (lists) {
    var keep = {};
    lists.forEach(function (l) { l.forEach(function (u) { keep[u] = 1; }); });
    return caches.open(STATIC).then(function (st) {
      return st.keys().then(function (reqs) {
        return Promise.all(reqs.filter(function (r) {
          var u = new URL(r.url);
          return !keep[u.pathname + u.search];
        }).map(function (r) { return st.delete(r); }));
      });
    });
  });
}

// The server's pick_language, for the languages a form has: zh-CN, zh-Hans-CN, zh-SG give
// zh-Hans; zh-TW, zh-HK, zh-Hant give zh-Hant when the form has it; en-GB gives en.
function pick(tags, avail) {
  for (var i = 0; i < tags.length; i++) {
    var found = tags[i] && match(String(tags[i]), avail);
    if (found) return found;
  }
  return avail[0];
}
function match(tag, avail) {
  var low = avail.map(function (a) { return a.toLowerCase(); });
  var t = tag.toLowerCase().replace(/_/g, '-');
  var parts = t.split('-');
  var k = low.indexOf(t);
  if (k >= 0) return avail[k];
  if (parts[0] === 'zh') {
    var hant = false;
    for (var i = 1; i < parts.length; i++) {
      if (/^(hans|hant|cn|sg|my|tw|hk|mo)$/.test(parts[i])) {
        hant = /^(hant|tw|hk|mo)$/.test(parts[i]);
        break;
      }
    }
    var order = hant ? ['zh-hant', 'zh-hans', 'zh'] : ['zh-hans', 'zh-hant', 'zh'];
    for (i = 0; i < order.length; i++) if ((k = low.indexOf(order[i])) >= 0) return avail[k];
    return null;
  }
  for (i = 0; i < low.length; i++) if (low[i].split('-')[0] === parts[0]) return avail[i];
  return null;
}
