/* forms.js: the live behaviour of a form page, on top of HTML that works without it.
 *
 * The answers live in ONE object, FormsApp.state.answers (raw, as typed: strings,
 * arrays for select_multiple and rank, a list of entry objects per repeat); everything
 * else is derived from it by evaluateAll(): typed values with irrelevant answers
 * blanked (state.values), relevance by field key (state.relevant), errors.
 * A submission leaves through ONE function, FormsApp.send(payload). offline.js (drafts
 * and the queue) sets FormsApp.submit around it: 202 with a url = kept on the device.
 * Expressions are the server's ASTs, evaluated by FormsExpr (expr.js).
 * Field keys: "name", "repeat.0.name", "outer.0.inner.1.name"; ids: q-<key> wrapper,
 * f-<key> control, e-<key> error, l-<key> label (see templates/questions.html).
 */
(function () {
  'use strict';
  var form = document.getElementById('fs-form');
  var E = window.FormsExpr;
  if (!form || !E) return; // the plain HTML form still works

  var def = JSON.parse(document.getElementById('fs-definition').textContent);
  var S = JSON.parse(document.getElementById('fs-strings').textContent);
  var lang = form.getAttribute('data-lang');
  var NUM = /^[+-]?(\d+\.?\d*|\.\d+)$/;
  var MULTI = { select_multiple: 1, rank: 1 };
  var NO_INPUT = { group: 1, repeat: 1, note: 1, calculate: 1 };
  var Q = {};
  var fields = {};
  var state = { answers: {}, values: {}, relevant: {}, allowed: {}, errors: {}, touched: {}, server: {} };
  var now = isoLocal(new Date());
  var sending = false;
  var typing = null; // the key being typed in: its new errors wait for the change event
  var pending = []; // fresh entries (or page) whose default_expr still has to be applied

  // -- the definition ----------------------------------------------------------------
  (function walk(qs, parent) {
    qs.forEach(function (q) {
      q.parent = parent;
      q.repeats = q.repeats || [];
      Q[q.name] = q;
      fields[q.name] = { type: q.type, repeats: q.repeats };
      if (q.questions) walk(q.questions, q);
    });
  })(def.questions, null);

  // Dependency order, with every group or repeat before what it holds.
  var order = [];
  var seen = {};
  function refs(ast, out) {
    if (Array.isArray(ast)) {
      if (ast[0] === 'ref') out.push(ast[1]);
      else for (var i = 1; i < ast.length; i++) refs(ast[i], out);
    }
    return out;
  }
  function visit(name) {
    var q = Q[name];
    if (!q || seen[name]) return;
    seen[name] = 1;
    if (q.parent) visit(q.parent.name);
    refs([0, q.relevant, q.calculation, q.repeat_count], []).forEach(visit);
    order.push(name);
  }
  (def.order || []).concat(Object.keys(Q)).forEach(visit);

  function txt(text) {
    if (!text) return '';
    var keys = [lang, '', def.languages[0]];
    for (var i = 0; i < keys.length; i++) if (text[keys[i]] != null) return text[keys[i]];
    for (var k in text) return text[k];
    return '';
  }
  function fmt(s, params) {
    return s.replace(/\{(\w+)\}/g, function (m, k) { return params[k] != null ? params[k] : m; });
  }
  function choicesOf(q) { return q.choices || (def.choice_lists || {})[q.choice_list] || []; }
  function choiceLabel(name, value) {
    var q = Q[name];
    var c = q && choicesOf(q).filter(function (c) { return c.value === value; })[0];
    return c ? txt(c.label) : '';
  }

  // -- keys and levels ---------------------------------------------------------------
  function byId(id) { return document.getElementById(id); }
  function parseKey(key) {
    var parts = key.split('.');
    var idx = [];
    for (var i = 1; i < parts.length; i += 2) idx.push(+parts[i]);
    return { q: Q[parts[parts.length - 1]], idx: idx };
  }
  function keyOf(q, idx) {
    var k = '';
    for (var d = 0; d < q.repeats.length; d++) k += q.repeats[d] + '.' + idx[d] + '.';
    return k + q.name;
  }
  // The object (the top or one entry) that holds q's answer at idx.
  function level(root, q, idx) {
    for (var d = 0; d < q.repeats.length && root; d++) root = (root[q.repeats[d]] || [])[idx[d]];
    return root || {};
  }
  function instances(q) {
    var out = [];
    (function go(obj, d, idx) {
      if (d === q.repeats.length) return out.push(idx);
      var list = obj[q.repeats[d]] || [];
      for (var i = 0; i < list.length; i++) go(list[i], d + 1, idx.concat(i));
    })(state.answers, 0, []);
    return out;
  }
  function answerAt(key) {
    var p = parseKey(key);
    return level(state.answers, p.q, p.idx)[p.q.name];
  }
  function setAnswer(key, value) {
    var p = parseKey(key);
    level(state.answers, p.q, p.idx)[p.q.name] = value;
  }
  function entryList(rkey) {
    var p = parseKey(rkey);
    var holder = level(state.answers, p.q, p.idx);
    return holder[p.q.name] || (holder[p.q.name] = []);
  }

  // -- the DOM's fields ----------------------------------------------------------------
  function els(key) { return form.querySelectorAll('[name="' + key + '"]'); }
  function readField(key, q) {
    var list = els(key);
    var out = [];
    for (var i = 0; i < list.length; i++) {
      var el = list[i];
      if (el.type === 'radio' || el.type === 'checkbox') {
        if (el.checked) out.push(el.value);
      } else if (el.type === 'file') {
        var name = el.files && el.files[0] ? el.files[0].name : el.getAttribute('data-file');
        if (name) out.push(name);
      } else if (el.multiple) {
        for (var j = 0; j < el.options.length; j++) if (el.options[j].selected) out.push(el.options[j].value);
      } else if (el.value !== '') out.push(el.value);
    }
    return MULTI[q.type] ? out : out.length ? out[0] : '';
  }
  function writeField(key, q, value) {
    var list = els(key);
    var many = Array.isArray(value) ? value : value === '' || value == null ? [] : String(value).split(' ');
    var s = value == null ? '' : String(value);
    for (var i = 0; i < list.length; i++) {
      var el = list[i];
      if (el.type === 'radio' || el.type === 'checkbox') el.checked = (MULTI[q.type] ? many : [s]).indexOf(el.value) >= 0;
      else if (el.multiple) for (var j = 0; j < el.options.length; j++) el.options[j].selected = many.indexOf(el.options[j].value) >= 0;
      else if (q.type === 'rank') el.value = many[i] || '';
      else if (el.type === 'file') continue;
      else el.value = el.type === 'month' ? s.slice(0, 7) : el.hasAttribute('data-year') ? s.slice(0, 4) :
        el.type === 'datetime-local' ? s.slice(0, 16) : s;
    }
    var slider = byId('r-' + key);
    if (slider && s) { slider.value = s; slider.classList.remove('unset'); }
  }
  function entryBox(sec) { return sec.querySelector('.entries'); }
  function readLevel(qs, prefix, obj) {
    qs.forEach(function (q) {
      if (q.type === 'group') readLevel(q.questions, prefix, obj);
      else if (q.type === 'repeat') {
        var sec = byId('q-' + prefix + q.name);
        var list = (obj[q.name] = []);
        var n = sec ? entryBox(sec).children.length : 0;
        for (var i = 0; i < n; i++) {
          list.push({});
          readLevel(q.questions, prefix + q.name + '.' + i + '.', list[i]);
        }
      } else if (q.type !== 'note') obj[q.name] = readField(prefix + q.name, q);
    });
  }

  // -- evaluation ----------------------------------------------------------------------
  // Full-width digits (a Chinese keyboard's) read as digits, as the server reads them.
  function ascii(v) {
    return String(v).trim().replace(/[\uff10-\uff19]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xfee0); });
  }
  function typed(q, v) {
    if (Array.isArray(v)) return v.length ? v.slice() : '';
    if (v == null || v === '') return '';
    var t = q.type;
    if (t === 'integer' || t === 'decimal' || t === 'range') return NUM.test(ascii(v)) ? +ascii(v) : v;
    if (t === 'date' && /^\d{4}(-\d\d)?$/.test(v)) return v.length === 4 ? v + '-01-01' : v + '-01';
    return v;
  }
  function build(qs, src, dst) {
    qs.forEach(function (q) {
      if (q.type === 'group') build(q.questions, src, dst);
      else if (q.type === 'repeat') {
        dst[q.name] = (src[q.name] || []).map(function (e) { return build(q.questions, e, {}); });
      } else if (q.type !== 'note') dst[q.name] = typed(q, src[q.name]);
    });
    return dst;
  }
  function ctx(q, idx, dot, choice) {
    return { answers: state.values, fields: fields, now: now, here: q.name, index: idx,
      dot: dot, choice: choice, choiceLabel: choiceLabel };
  }
  function ev(ast, q, idx, dot, choice) {
    try {
      return E.evaluate(ast, ctx(q, idx, dot, choice));
    } catch (err) {
      if (window.console) console.error('forms.js', q.name, err);
      return '';
    }
  }
  function truthy(ast, q, idx, dot, choice) { return E.toBoolean(ev(ast, q, idx, dot, choice)); }
  function show(v) { return Array.isArray(v) ? v.join(' ') : E.toString(v); }

  // Relevance, calculations and repeat counts, in dependency order.
  function compute() {
    var values = (state.values = build(def.questions, state.answers, {}));
    var rel = (state.relevant = {});
    order.forEach(function (name) {
      var q = Q[name];
      instances(q).forEach(function (idx) {
        var key = keyOf(q, idx);
        var on = !q.parent || rel[keyOf(q.parent, idx)] !== false;
        if (on && q.relevant) on = truthy(q.relevant, q, idx);
        rel[key] = on;
        if (q.type === 'repeat') {
          if (on && q.repeat_count) {
            var n = Math.max(0, Math.min(100, Math.floor(E.toNumber(ev(q.repeat_count, q, idx))) || 0));
            if (setCount(key, q, n)) level(values, q, idx)[name] = build([q], level(state.answers, q, idx), {})[name];
          }
          return;
        }
        var holder = level(values, q, idx);
        if (!on) holder[name] = '';
        else if (q.calculation) {
          var r = show(ev(q.calculation, q, idx, holder[name]));
          setAnswer(key, r);
          holder[name] = q.type === 'calculate' ? r : typed(q, r);
        }
      });
    });
  }

  // Choice filters: which options each select may show; a chosen one that goes is cleared.
  function filter() {
    var changed = false;
    state.allowed = {};
    order.forEach(function (name) {
      var q = Q[name];
      if (!q.choice_filter) return;
      instances(q).forEach(function (idx) {
        var key = keyOf(q, idx);
        if (state.relevant[key] === false) return;
        var ok = (state.allowed[key] = {});
        choicesOf(q).forEach(function (c) {
          var choice = { value: c.value, name: c.value };
          for (var a in c.attrs || {}) choice[a] = c.attrs[a];
          if (truthy(q.choice_filter, q, idx, undefined, choice)) ok[c.value] = 1;
        });
        var v = answerAt(key) || (MULTI[q.type] ? [] : '');
        var kept = MULTI[q.type] ? v.filter(function (x) { return ok[x]; }) : ok[v] || v === '' ? v : '';
        if (MULTI[q.type] ? kept.length !== v.length : kept !== v) {
          setAnswer(key, kept);
          writeField(key, q, kept);
          changed = true;
        }
      });
    });
    return changed;
  }

  function evaluateAll() {
    for (var pass = 0; pass < 4; pass++) {
      compute();
      var again = filter();
      for (; pending.length; again = true) defaults.apply(null, pending.shift());
      if (!again) break;
    }
    render();
    return state;
  }

  // -- showing the state -----------------------------------------------------------------
  function render() {
    var key, el;
    for (key in state.relevant) {
      el = byId('q-' + key);
      if (el) el.hidden = !state.relevant[key];
    }
    order.forEach(function (name) {
      var q = Q[name];
      if (!(q.read_only && q.calculation) && !q.required_if) return;
      instances(q).forEach(function (idx) {
        var key = keyOf(q, idx);
        var out = byId('f-' + key);
        var star = q.required_if && byId('q-' + key);
        if (star && (star = star.querySelector('.req'))) star.hidden = !truthy(q.required_if, q, idx);
        else if (out && q.calculation) out.textContent = answerAt(key) || '';
      });
    });
    var spans = form.querySelectorAll('[data-ref]');
    for (var i = 0; i < spans.length; i++) {
      var p = parseKey(spans[i].getAttribute('data-ref'));
      var v = p.q && level(state.values, p.q, p.idx)[p.q.name];
      spans[i].textContent = v == null ? '' : show(v);
    }
    for (key in state.allowed) showOptions(key, state.allowed[key]);
    var ranks = form.querySelectorAll('ol.rank');
    for (i = 0; i < ranks.length; i++) drawRank(ranks[i]);
    for (key in state.touched) {
      var msg = check(key) || state.server[key] || '';
      if (!(msg && key === typing && !state.errors[key])) showError(key, msg);
    }
  }
  function showOptions(key, ok) {
    var list = els(key);
    for (var i = 0; i < list.length; i++) {
      var el = list[i];
      if (el.tagName === 'SELECT') {
        for (var j = 0; j < el.options.length; j++) {
          var o = el.options[j];
          if (o.value) o.hidden = o.disabled = !ok[o.value];
        }
      } else if (el.type === 'radio' || el.type === 'checkbox') {
        el.disabled = !ok[el.value];
        el.parentNode.hidden = el.disabled;
      }
    }
  }

  // -- validation --------------------------------------------------------------------
  function typeError(q, raw) {
    var s = ascii(raw);
    var t = q.type;
    if (t === 'integer' && !/^[+-]?\d+(\.0*)?$/.test(s)) return S.integer;
    if (t === 'decimal' && !NUM.test(s)) return S.decimal;
    if (t === 'range') {
      var p = q.parameters || {};
      var lo = p.start != null ? p.start : 1;
      var hi = p.end != null ? p.end : 10;
      var step = p.step || 1;
      var x = +s;
      var k = (x - lo) / step;
      if (!NUM.test(s) || x < lo || x > hi || Math.abs(k - Math.round(k)) > 1e-9) return fmt(S.range, { start: lo, end: hi });
    }
    if (t === 'geopoint') {
      var g = s.split(/\s+/);
      if (g.length < 2 || g.length > 4 || g.some(function (n) { return !NUM.test(n); }) ||
        Math.abs(g[0]) > 90 || Math.abs(g[1]) > 180) return S.geopoint;
    }
    return '';
  }
  function check(key) {
    var p = parseKey(key);
    var q = p.q;
    if (!q || state.relevant[key] === false) return '';
    if (q.type === 'repeat') {
      var n = entryList(key).length;
      if (q.min && n < q.min) return fmt(S.min, { n: q.min });
      if (q.max && n > q.max) return fmt(S.max, { n: q.max });
      return '';
    }
    if (NO_INPUT[q.type] || q.read_only) return '';
    var raw = answerAt(key);
    var v = level(state.values, q, p.idx)[q.name];
    var empty = Array.isArray(raw) ? !raw.length : raw == null || (q.type === 'text' ? raw === '' : !String(raw).trim());
    if (empty) {
      var need = q.required_if ? truthy(q.required_if, q, p.idx, v) : q.required;
      return need ? txt(q.required_message) || S.required : '';
    }
    var bad = typeError(q, raw);
    if (bad) return bad;
    if (q.constraint && !truthy(q.constraint, q, p.idx, v)) return txt(q.constraint_message) || S.constraint;
    return '';
  }
  function showError(key, msg) {
    var wrap = byId('q-' + key);
    var id = 'e-' + key;
    var p = byId(id);
    if (msg) state.errors[key] = msg;
    else delete state.errors[key];
    if (!wrap) return;
    if (msg && !p) {
      p = document.createElement('p');
      p.className = 'err';
      p.id = id;
      var box = wrap.querySelector('fieldset') || wrap;
      var at = box.firstElementChild;
      while (at && /\b(label|hint)\b/.test(at.className)) at = at.nextElementSibling;
      box.insertBefore(p, at);
    }
    if (p) {
      p.textContent = msg;
      p.hidden = !msg;
    }
    wrap.classList.toggle('has-err', !!msg);
    var targets = [].slice.call(els(key));
    var own = byId('f-' + key);
    if (own && targets.indexOf(own) < 0) targets.push(own);
    targets.forEach(function (el) {
      var ids = (el.getAttribute('aria-describedby') || '').split(' ').filter(function (x) { return x && x !== id; });
      if (msg) ids.push(id);
      if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
      else el.removeAttribute('aria-describedby');
      if (el.tagName !== 'FIELDSET' && el.tagName !== 'DIV') {
        if (msg) el.setAttribute('aria-invalid', 'true');
        else el.removeAttribute('aria-invalid');
      }
    });
  }
  // Every visible question in document order; returns the keys with an error.
  function validateAll() {
    var bad = [];
    var wraps = form.querySelectorAll('[data-key]');
    for (var i = 0; i < wraps.length; i++) {
      var key = wraps[i].getAttribute('data-key');
      var q = parseKey(key).q;
      if (!q || q.type === 'group') continue;
      state.touched[key] = 1;
      var msg = check(key);
      showError(key, msg);
      if (msg) bad.push(key);
    }
    return bad;
  }
  function labelText(key) {
    var l = byId('l-' + key);
    if (!l) return '';
    var s = '';
    for (var n = l.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 3 || !/\b(req|vh)\b/.test(n.className)) s += n.textContent;
    }
    return s.trim();
  }
  function summary(keys, heading) {
    var box = byId('fs-summary');
    var ul = box.querySelector('ul');
    box.querySelector('h2').textContent = heading || S.summary;
    ul.textContent = '';
    keys.forEach(function (key) {
      var li = document.createElement('li');
      var a = document.createElement('a');
      var label = labelText(key);
      a.href = '#f-' + key;
      a.textContent = (label ? label + (/[？?：:]$/.test(label) ? ' ' : '：') : '') + state.errors[key];
      li.appendChild(a);
      ul.appendChild(li);
    });
    var extra = box.querySelectorAll('p');
    for (var i = 0; i < extra.length; i++) extra[i].remove();
    box.hidden = !keys.length;
  }
  // Focus a question's control with its label, hint and error in view.
  function focusKey(key) {
    var el = byId('f-' + key) || els(key)[0];
    var wrap = byId('q-' + key);
    if (!el) return;
    if (wrap) wrap.scrollIntoView();
    el.focus({ preventScroll: !!wrap });
  }

  // -- repeats -----------------------------------------------------------------------
  function esc(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }
  // "children.3" where a key, id or attribute starts: "…children.3.age", "remove:children.3".
  function keyPattern(from) { return new RegExp('(^|["\\-: ])' + esc(from) + '(?=[."\\s]|$)', 'g'); }
  var KEY_ATTRS = ['id', 'name', 'for', 'aria-describedby', 'aria-labelledby', 'data-key', 'data-ref',
    'data-entry-key', 'data-geo', 'data-rank'];
  function rekey(root, from, to) {
    var re = keyPattern(from);
    var all = [root].concat([].slice.call(root.querySelectorAll('*')));
    all.forEach(function (el) {
      KEY_ATTRS.concat(el.tagName === 'BUTTON' ? ['value'] : []).forEach(function (a) {
        var v = el.getAttribute(a);
        if (v != null) el.setAttribute(a, v.replace(re, '$1' + to));
      });
      if (el.tagName === 'TEMPLATE') el.innerHTML = el.innerHTML.replace(re, '$1' + to);
    });
  }
  function section(rkey) { return byId('q-' + rkey); }
  function renumber(rkey) {
    var sec = section(rkey);
    var q = parseKey(rkey).q;
    var box = entryBox(sec);
    var n = box.children.length;
    for (var i = 0; i < n; i++) {
      var entry = box.children[i];
      entry.firstElementChild.textContent = fmt(sec.getAttribute('data-entry'), { n: i + 1 });
      var rm = entry.lastElementChild;
      if (rm.classList.contains('remove')) {
        rm.textContent = fmt(sec.getAttribute('data-remove'), { n: i + 1 });
        rm.hidden = n <= (q.min || 0);
      }
    }
    for (i = 0; i < sec.children.length; i++) {
      if (sec.children[i].classList.contains('add')) sec.children[i].disabled = !!q.max && n >= q.max;
    }
  }
  function addEntry(rkey, quiet) {
    var sec = section(rkey);
    var q = parseKey(rkey).q;
    var list = entryList(rkey);
    var n = list.length;
    var tpl = [].filter.call(sec.children, function (c) { return c.tagName === 'TEMPLATE'; })[0];
    if (!tpl) return;
    entryBox(sec).insertAdjacentHTML('beforeend', tpl.innerHTML.replace(keyPattern(rkey + '.__new__'), '$1' + rkey + '.' + n));
    var entry = {};
    list.push(entry);
    readLevel(q.questions, rkey + '.' + n + '.', entry);
    pending.push([q.questions, rkey + '.' + n + '.', entry]);
    renumber(rkey);
    if (!quiet) {
      evaluateAll();
      var first = entryBox(sec).lastElementChild.querySelector('input:not([type=hidden]),select,textarea');
      if (first) first.focus();
    }
  }
  function removeEntry(rkey, i, quiet) {
    var sec = section(rkey);
    var list = entryList(rkey);
    var box = entryBox(sec);
    if (!quiet && hasAnswer(list[i]) && !window.confirm(S.remove)) return;
    box.removeChild(box.children[i]);
    list.splice(i, 1);
    for (var j = i; j < box.children.length; j++) rekey(box.children[j], rkey + '.' + (j + 1), rkey + '.' + j);
    [state.touched, state.errors].forEach(function (keys) {
      for (var key in keys) if (key.indexOf(rkey + '.') === 0) delete keys[key];
    });
    renumber(rkey);
    if (!quiet) {
      evaluateAll();
      var next = box.children[Math.min(i, box.children.length - 1)] || sec;
      next.setAttribute('tabindex', '-1');
      next.focus();
    }
  }
  // For repeat_count: make there be n entries; true when the count changed.
  function setCount(rkey, q, n) {
    var have = entryList(rkey).length;
    if (!section(rkey) || have === n) return false;
    while (entryList(rkey).length < n) addEntry(rkey, true);
    while (entryList(rkey).length > n) removeEntry(rkey, entryList(rkey).length - 1, true);
    return true;
  }
  function hasAnswer(v) {
    if (Array.isArray(v)) return v.some(hasAnswer);
    if (v && typeof v === 'object') return Object.keys(v).some(function (k) { return Q[k] && Q[k].type !== 'calculate' && hasAnswer(v[k]); });
    return v != null && v !== '';
  }

  // default_expr on a fresh page or entry: only where nothing is answered yet.
  function defaults(qs, prefix, obj) {
    qs.forEach(function (q) {
      if (q.type === 'group') defaults(q.questions, prefix, obj);
      else if (q.type === 'repeat') {
        (obj[q.name] || []).forEach(function (e, i) { defaults(q.questions, prefix + q.name + '.' + i + '.', e); });
      } else if (q.default_expr && !hasAnswer(obj[q.name])) {
        var key = prefix + q.name;
        var v = show(ev(q.default_expr, q, parseKey(key).idx, ''));
        obj[q.name] = MULTI[q.type] ? v.split(' ').filter(Boolean) : v;
        writeField(key, q, obj[q.name]);
      }
    });
  }

  // -- rank: a list with up/down buttons that sets the numbered drop-downs -------------
  function drawRank(ol) {
    var key = ol.getAttribute('data-rank');
    var q = parseKey(key).q;
    var ok = state.allowed[key];
    var chosen = answerAt(key) || [];
    var items = chosen.concat(choicesOf(q).map(function (c) { return c.value; }).filter(function (v) {
      return chosen.indexOf(v) < 0 && (!ok || ok[v]);
    }));
    var sig = items.join(' ') + '|' + chosen.length;
    var list = ol.nextElementSibling;
    if (!list || !list.classList.contains('rank-js')) {
      list = document.createElement('div');
      list.className = 'rank-js';
      ol.parentNode.insertBefore(list, ol.nextSibling);
      ol.hidden = true;
    }
    if (list.getAttribute('data-sig') === sig) return;
    list.setAttribute('data-sig', sig);
    var html = '<ol>';
    items.forEach(function (v, i) {
      var label = escapeHtml(choiceLabel(q.name, v));
      html += '<li data-v="' + escapeHtml(v) + '"><span>' + label + '</span>' +
        '<button type="button" class="btn" data-move="-1"' + (i ? '' : ' disabled') + ' aria-label="' + escapeHtml(S.up) + '：' + label + '">↑</button>' +
        '<button type="button" class="btn" data-move="1"' + (i < items.length - 1 ? '' : ' disabled') + ' aria-label="' + escapeHtml(S.down) + '：' + label + '">↓</button></li>';
    });
    html += '</ol><p class="hint">' + (chosen.length ? '' : S.unranked + ' ') +
      '<button type="button" class="btn" data-rank-set="' + (chosen.length ? 'clear">' + S.clear : 'keep">' + S.keep) + '</button></p>';
    list.innerHTML = html;
    list.setAttribute('data-items', items.join(' '));
  }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
  }
  function rankClick(btn) {
    var list = btn.closest('.rank-js');
    var ol = list.previousElementSibling;
    var key = ol.getAttribute('data-rank');
    var q = parseKey(key).q;
    var items = list.getAttribute('data-items').split(' ').filter(Boolean);
    var v = '';
    var dir = +btn.getAttribute('data-move');
    if (dir) {
      v = btn.parentNode.getAttribute('data-v');
      var i = items.indexOf(v);
      items.splice(i, 1);
      items.splice(i + dir, 0, v);
    } else if (btn.getAttribute('data-rank-set') === 'clear') items = [];
    setAnswer(key, items);
    writeField(key, q, items);
    changed(key, true);
    if (v) {
      var moved = list.querySelector('li[data-v="' + v + '"] [data-move="' + dir + '"]');
      if (moved && moved.disabled) moved = moved.parentNode.querySelector('[data-move]:not([disabled])');
      if (moved) moved.focus();
    } else list.querySelector('[data-rank-set]').focus();
  }

  // -- geopoint ----------------------------------------------------------------------
  function locate(btn) {
    var key = btn.getAttribute('data-geo');
    var label = btn.textContent;
    btn.disabled = true;
    btn.textContent = S.locating;
    function done() { btn.disabled = false; btn.textContent = label; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      var c = pos.coords;
      byId('f-' + key).value = [c.latitude.toFixed(6), c.longitude.toFixed(6), Math.round(c.altitude || 0),
        Math.round(c.accuracy)].join(' ');
      done();
      changed(key, true);
    }, function () {
      done();
      showError(key, S.geofail);
    }, { enableHighAccuracy: true, timeout: 30000, maximumAge: 60000 });
  }

  // -- events ------------------------------------------------------------------------
  function changed(key, validate) {
    var q = parseKey(key).q;
    if (!q) return;
    setAnswer(key, readField(key, q));
    delete state.server[key]; // the server's word on the old answer
    if (validate) state.touched[key] = 1;
    evaluateAll();
  }
  function onInput(e) {
    var el = e.target;
    if (el.type === 'range') {
      el.classList.remove('unset');
      el = byId('f-' + el.id.slice(2));
      el.value = e.target.value;
    } else if (byId('r-' + el.name) && NUM.test(el.value)) byId('r-' + el.name).value = el.value;
    typing = e.type === 'input' ? el.name : null;
    if (el.name && el.name.charAt(0) !== '_') changed(el.name, e.type === 'change');
  }
  form.addEventListener('input', onInput);
  form.addEventListener('change', onInput);
  form.addEventListener('keydown', function (e) {
    var t = e.target;
    // The phone keyboard's Enter/Go must not send a half-filled form.
    if (e.key === 'Enter' && t.tagName === 'INPUT' && !/^(submit|button|file)$/.test(t.type)) e.preventDefault();
  });
  form.addEventListener('click', function (e) {
    var btn = e.target.closest('button');
    if (!btn) return;
    var action = btn.name === '_action' && btn.value.split(':');
    if (action) {
      e.preventDefault();
      if (action[0] === 'add') addEntry(action[1]);
      else {
        var at = action[1].lastIndexOf('.');
        removeEntry(action[1].slice(0, at), +action[1].slice(at + 1));
      }
    } else if (btn.hasAttribute('data-geo')) locate(btn);
    else if (btn.closest('.rank-js')) rankClick(btn);
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (sending) return;
    var bad = validateAll();
    summary(bad);
    if (bad.length) return focusKey(bad[0]);
    var completedAt = isoLocal(new Date());
    var data = new FormData(form);
    data.set('_completed_at', completedAt);
    // month-year and year inputs give "2025-03" and "2025": send whole dates
    [].forEach.call(form.querySelectorAll('input[type=month],input[data-year]'), function (el) {
      if (el.name && el.value) data.set(el.name, el.value + (el.type === 'month' ? '-01' : '-01-01'));
    });
    var entries = [];
    data.forEach(function (v, k) { entries.push([k, v]); });
    submitted({ formId: def.id, id: data.get('_id'), fields: entries, completedAt: completedAt });
  });

  // -- sending -----------------------------------------------------------------------
  /* POST the multipart form data; resolves with the JSON reply plus its httpStatus
   * (201 created, 200 duplicate, 409 conflict, 422 {errors}, others) and rejects only
   * when the server could not be reached: the offline queue will retry those. */
  function send(payload) {
    var data = new FormData();
    payload.fields.forEach(function (f) { data.append(f[0], f[1]); });
    if (payload.completedAt) data.set('_completed_at', payload.completedAt);
    return fetch(payload.action || form.getAttribute('action'), {
      method: 'POST', body: data, credentials: 'same-origin', headers: { Accept: 'application/json' }
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (reply) {
        reply = reply && typeof reply === 'object' ? reply : {};
        reply.httpStatus = res.status;
        return reply;
      });
    });
  }
  function status(msg, bad) {
    var el = byId('fs-status');
    el.textContent = msg;
    el.classList.toggle('bad', !!bad);
  }
  function submitted(payload) {
    var button = byId('fs-submit');
    sending = button.disabled = true;
    status(S.sending);
    (App.submit || App.send)(payload).then(function (reply) {
      var code = reply.httpStatus;
      if ((code === 200 || code === 201 || code === 202) && reply.url) {
        window.location.assign(reply.url);
        return;
      }
      sending = button.disabled = false;
      if (code === 422 && reply.errors) {
        var keys = Object.keys(reply.errors);
        keys.forEach(function (k) {
          state.touched[k] = 1;
          showError(k, (state.server[k] = reply.errors[k]));
        });
        status('');
        summary(keys);
        if (keys.length) focusKey(keys[0]);
      } else status(code === 409 ? S.conflict : fmt(S.failed, { status: code }), true);
    }, function () {
      sending = button.disabled = false;
      status(S.offline, true);
    });
  }

  function isoLocal(d) {
    function p(n, w) { return ('000' + n).slice(-(w || 2)); }
    var off = -d.getTimezoneOffset();
    var a = Math.abs(off);
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' +
      p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3) +
      (off < 0 ? '-' : '+') + p((a / 60) | 0) + ':' + p(a % 60);
  }

  // -- start -------------------------------------------------------------------------
  readLevel(def.questions, '', state.answers);
  if (form.hasAttribute('data-fresh')) pending.push([def.questions, '', state.answers]);
  [].forEach.call(form.querySelectorAll('.err[id^="e-"]:not([hidden])'), function (p) {
    state.touched[p.id.slice(2)] = 1;
    state.server[p.id.slice(2)] = p.textContent;
  });
  [].forEach.call(form.querySelectorAll('input[type=range][id^="r-"], .scale'), function (el) { el.hidden = false; });
  if (navigator.geolocation && window.isSecureContext !== false) {
    [].forEach.call(form.querySelectorAll('[data-geo]'), function (el) { el.hidden = false; });
  }
  // set('children.0.child_age', '7'): an answer from elsewhere (a draft), shown and evaluated.
  function set(key, value) {
    setAnswer(key, value);
    writeField(key, parseKey(key).q, value);
    evaluateAll();
  }
  var App = (window.FormsApp = {
    state: state, send: send, evaluateAll: evaluateAll, set: set, addEntry: addEntry, definition: def, now: now
  });
  evaluateAll();
  var box = byId('fs-summary');
  box.addEventListener('click', function (e) {
    var a = e.target.closest('a[href^="#f-"]');
    if (a) {
      e.preventDefault();
      focusKey(a.getAttribute('href').slice(3));
    }
  });
  if (!box.hidden) box.focus();
})();
