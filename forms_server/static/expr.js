/* forms-server: the expression evaluator of the browser.
 *
 * Evaluates the JSON AST that forms_server/parser.py makes from each
 * expression, with exactly the meaning of the Python evaluator (expressions.py,
 * values.py and functions.py are the reference; docs/expressions.md states the rules; the
 * shared vectors in tests/expressions/vectors.json check both). No parser, no
 * eval: the server parses once and sends the AST.
 *
 * Values: a number, a string, a boolean, a date (DateValue: its ISO text and
 * days since 1970-01-01) or a node-set (an Array of those: every entry's answer
 * of a repeat question seen from outside its repeat).
 *
 * Browser global `FormsExpr`; `module.exports` under Node. ES2017, no dependencies.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.FormsExpr = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var hasOwn = Object.prototype.hasOwnProperty;
  function own(o, k) { return o != null && hasOwn.call(o, k) ? o[k] : undefined; }

  function DateValue(iso, days) { this.iso = iso; this.days = days; }

  // -- conversions --------------------------------------------------------------------

  // XPath's number syntax: no exponent, no '+', no 'Infinity'; only XML whitespace around.
  var NUMBER = /^[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*$/;
  var TRIM = /^[ \t\r\n]+|[ \t\r\n]+$/g;
  var SPACES = /[ \t\r\n]+/;

  function toNumber(v) {
    switch (typeof v) {
      case 'number': return v;
      case 'string': var m = NUMBER.exec(v); return m ? +m[1] : NaN;
      case 'boolean': return v ? 1 : 0;
    }
    if (v instanceof DateValue) return v.days;
    return v.length ? toNumber(v[0]) : NaN;
  }

  function toString(v) {
    switch (typeof v) {
      case 'string': return v;
      case 'number': return String(v);
      case 'boolean': return v ? 'true' : 'false';
    }
    if (v instanceof DateValue) return v.iso;
    return v.length ? toString(v[0]) : '';
  }

  function toBoolean(v) {
    switch (typeof v) {
      case 'boolean': return v;
      case 'string': return v !== '';
      case 'number': return !(v === 0 || v !== v);
    }
    return v instanceof DateValue || v.length > 0;
  }

  function typeOf(v) {
    var t = typeof v;
    return t === 'object' ? (v instanceof DateValue ? 'date' : 'nodeset') : t;
  }

  function first(v) { return Array.isArray(v) ? (v.length ? v[0] : '') : v; }
  function trim(s) { return s.replace(TRIM, ''); }
  function tokens(v) { return toString(v).split(SPACES).filter(Boolean); }

  // Every value of the arguments, a node-set contributing each of its values.
  function items(args) {
    var out = [];
    for (var i = 0; i < args.length; i++) {
      if (Array.isArray(args[i])) out.push.apply(out, args[i]);
      else out.push(args[i]);
    }
    return out;
  }

  // Strings count characters as Python does: by code point, not UTF-16 unit.
  function chars(s) { return /[\uD800-\uDFFF]/.test(s) ? Array.from(s) : s; }

  // -- dates --------------------------------------------------------------------------

  var DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
  var DATETIME = new RegExp('^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})' +
    '(?::([0-9]{2})(?:\\.([0-9]+))?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$');
  var MIN_DAY = -719162, MAX_DAY = 2932896;  // 0001-01-01 and 9999-12-31
  var US_PER_DAY = 864e8;

  // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
  function daysFromCivil(y, m, d) {
    y -= m <= 2 ? 1 : 0;
    var era = Math.floor(y / 400), yoe = y - era * 400;
    var doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  }

  function civil(z) {
    z += 719468;
    var era = Math.floor(z / 146097), doe = z - era * 146097;
    var yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
      Math.floor(doe / 146096)) / 365);
    var doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    var mp = Math.floor((5 * doy + 2) / 153), m = mp < 10 ? mp + 3 : mp - 9;
    return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, doy - Math.floor((153 * mp + 2) / 5) + 1];
  }

  function validDate(y, m, d) {
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 &&
      d <= (m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28)
        : 30 + ((m + (m >> 3)) & 1));
  }

  function pad(n, w) { var s = String(n); while (s.length < w) s = '0' + s; return s; }

  function dayValue(days) {
    var c = civil(days);
    return new DateValue(pad(c[0], 4) + '-' + pad(c[1], 2) + '-' + pad(c[2], 2), days);
  }

  // Fractional days of a moment: its exact microseconds over a day's, rounded once, as
  // Python divides integers (in double-double beyond 2^53 microseconds, about 285 years).
  function momentDays(secs, micros) {
    var us = secs * 1e6 + micros;
    if (Math.abs(us) <= 9007199254740992) return us / US_PER_DAY;
    return ddDiv(ddAdd(twoProd(secs, 1e6), [micros, 0]), [US_PER_DAY, 0])[0];
  }

  // The fields of an ISO datetime, or null: [y, mo, d, h, mi, s, micros, offset minutes|null].
  function dateTimeFields(text) {
    var m = DATETIME.exec(text);
    if (!m) return null;
    var y = +m[1], mo = +m[2], d = +m[3], h = +m[4], mi = +m[5], s = +(m[6] || 0);
    var off = null, o = m[8];
    if (o) {
      off = 0;
      if (o !== 'Z') {
        var oh = +o.slice(1, 3), om = +o.slice(-2);
        if (oh > 23 || om > 59) return null;
        off = (o[0] === '-' ? -1 : 1) * (oh * 60 + om);
      }
    }
    if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return null;
    return [y, mo, d, h, mi, s, m[7] ? +(m[7].slice(0, 6) + '00000').slice(0, 6) : 0, off];
  }

  // `YYYY-MM-DD` or an ISO 8601 datetime (no offset means UTC); null when neither.
  function parseDate(text) {
    var m = DATE.exec(text);
    if (m) {
      var y = +m[1], mo = +m[2], d = +m[3];
      return validDate(y, mo, d) ? new DateValue(text, daysFromCivil(y, mo, d)) : null;
    }
    var f = dateTimeFields(text);
    if (!f) return null;
    var secs = daysFromCivil(f[0], f[1], f[2]) * 86400 + f[3] * 3600 + f[4] * 60 + f[5] -
      (f[7] || 0) * 60;
    return new DateValue(text, momentDays(secs, f[6]));
  }

  // A date or datetime from a value: a date, ISO text, or a number of days.
  function toDate(v) {
    v = first(v);
    if (v instanceof DateValue) return v;
    if (typeof v === 'string') {
      var parsed = parseDate(trim(v));
      if (parsed || !NUMBER.test(v)) return parsed;
    }
    var days = toNumber(v);
    if (!isFinite(days)) return null;
    days = Math.floor(days) + 0;
    return days < MIN_DAY || days > MAX_DAY ? null : dayValue(days);
  }

  // The wall-clock fields of a date value in its own UTC offset: [y, mo, d, h, mi, s, micros]
  // (a value made elsewhere, with ISO text of another shape, counts from its days in UTC).
  function wallClock(v) {
    var f = v.iso.length !== 10 && dateTimeFields(v.iso);
    if (f) return f;
    var day = Math.floor(v.days), us = Math.round((v.days - day) * US_PER_DAY);
    var s = Math.floor(us / 1e6);
    return civil(day).concat([Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60, us % 1e6]);
  }

  // The evaluation's clock: ctx.now as ISO text with its offset (or a Date, or the device's).
  var lastNow = null;
  function clock(now) {
    if (now == null) now = new Date();
    if (now instanceof Date) now = isoNow(now);
    if (lastNow && lastNow.text === now) return lastNow;
    var f = dateTimeFields(now);
    if (!f) throw new Error('FormsExpr: ctx.now is not an ISO 8601 datetime: ' + now);
    var off = f[7], days = daysFromCivil(f[0], f[1], f[2]);
    var iso = pad(f[0], 4) + '-' + pad(f[1], 2) + '-' + pad(f[2], 2) + 'T' + pad(f[3], 2) + ':' +
      pad(f[4], 2) + ':' + pad(f[5], 2) + '.' + pad(Math.floor(f[6] / 1000), 3);
    if (off !== null) {
      iso += (off < 0 ? '-' : '+') + pad(Math.floor(Math.abs(off) / 60), 2) + ':' +
        pad(Math.abs(off) % 60, 2);
    }
    var secs = days * 86400 + f[3] * 3600 + f[4] * 60 + f[5] - (off || 0) * 60;
    lastNow = {text: now, today: dayValue(days), now: new DateValue(iso, momentDays(secs, f[6]))};
    return lastNow;
  }

  // A Date as ISO 8601 text in the device's local time, with its offset.
  function isoNow(d) {
    var off = -d.getTimezoneOffset(), a = Math.abs(off);
    return pad(d.getFullYear(), 4) + '-' + pad(d.getMonth() + 1, 2) + '-' + pad(d.getDate(), 2) +
      'T' + pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) +
      '.' + pad(d.getMilliseconds(), 3) + (off < 0 ? '-' : '+') + pad(Math.floor(a / 60), 2) +
      ':' + pad(a % 60, 2);
  }

  var MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
  var WEEKDAYS = 'Mon Tue Wed Thu Fri Sat Sun'.split(' ');
  var FORMATS = {
    Y: function (f) { return pad(f[0], 4); },
    y: function (f) { return pad(f[0] % 100, 2); },
    m: function (f) { return pad(f[1], 2); },
    n: function (f) { return String(f[1]); },
    b: function (f) { return MONTHS[f[1] - 1]; },
    d: function (f) { return pad(f[2], 2); },
    e: function (f) { return String(f[2]); },
    a: function (f) { return WEEKDAYS[(((daysFromCivil(f[0], f[1], f[2]) + 3) % 7) + 7) % 7]; },
    H: function (f) { return pad(f[3], 2); },
    h: function (f) { return String(f[3]); },
    M: function (f) { return pad(f[4], 2); },
    S: function (f) { return pad(f[5], 2); },
    3: function (f) { return pad(Math.floor(f[6] / 1000), 3); },
    '%': function () { return '%'; }
  };

  // -- answers and repeats ------------------------------------------------------------

  // An answer as stored (JSON) as a value.
  function answerValue(raw, type) {
    if (raw == null) return '';
    switch (typeof raw) {
      case 'string':
        return raw && (type === 'date' || type === 'datetime') ? parseDate(raw) || raw : raw;
      case 'number': case 'boolean': return raw;
    }
    if (Array.isArray(raw)) {
      return raw.map(function (x) { return toString(answerValue(x, '')); }).join(' ');
    }
    return raw instanceof DateValue ? raw : '';
  }

  function isEntry(x) { return x !== null && typeof x === 'object' && !Array.isArray(x); }

  // A question's answer in the entry of each repeat that the context (or `wanted`) fixes;
  // a repeat level neither fixed nor shared with the current question gives a node-set.
  function lookup(name, ctx, wanted) {
    var field = own(ctx.fields, name);
    if (field == null) return answerValue(own(ctx.answers, name), '');
    var isRepeat = field.type === 'repeat', repeats = field.repeats || [];
    if (!repeats.length && !isRepeat) return answerValue(own(ctx.answers, name), field.type);
    var levels = isRepeat ? repeats.concat([name]) : repeats;
    var here = ctx.here != null ? own(ctx.fields, ctx.here) : null;
    var scope = (here && here.repeats) || [], index = ctx.index;
    var fixed = [], shared = true, open = false;
    for (var k = 0; k < levels.length; k++) {
      shared = shared && k < scope.length && scope[k] === levels[k] && k < index.length;
      if (wanted && hasOwn.call(wanted, levels[k])) {
        fixed.push(wanted[levels[k]]);
        shared = false;  // inner levels now belong to another entry than the context's
      } else if (shared && !(isRepeat && k === levels.length - 1)) {
        fixed.push(index[k]);
      } else {
        fixed.push(null);
        open = true;
      }
    }
    var found = [];
    collect(ctx.answers, levels, fixed, 0, name, isRepeat ? '' : field.type, found);
    return open ? found : found.length ? found[0] : '';
  }

  function collect(level, levels, fixed, k, name, type, found) {
    if (k === levels.length) {
      // A repeat's entry stands for itself: only its number matters (count()).
      found.push(type ? answerValue(own(level, name), type) : '');
      return;
    }
    var entries = own(level, levels[k]);
    if (!Array.isArray(entries)) return;
    var i = fixed[k];
    var chosen = i === null ? entries : i >= 0 ? entries.slice(i, i + 1) : [];
    for (var j = 0; j < chosen.length; j++) {
      if (isEntry(chosen[j])) collect(chosen[j], levels, fixed, k + 1, name, type, found);
    }
  }

  function dotValue(ctx) {
    if (ctx.dot !== undefined) {
      var here = ctx.here != null ? own(ctx.fields, ctx.here) : null;
      return answerValue(ctx.dot, here ? here.type : '');
    }
    return ctx.here != null ? lookup(ctx.here, ctx) : '';
  }

  // -- operators ----------------------------------------------------------------------

  function equal(a, b) {
    a = first(a);
    b = first(b);
    var ta = typeof a, tb = typeof b;
    if (ta === 'boolean' || tb === 'boolean') return toBoolean(a) === toBoolean(b);
    if (ta === 'number' || tb === 'number') return toNumber(a) === toNumber(b);
    if (a instanceof DateValue && b instanceof DateValue) return a.days === b.days;
    return toString(a) === toString(b);
  }

  function ev(node, ctx) {
    var handler = NODES[node[0]];
    if (!handler) throw new Error('FormsExpr: not an expression node: ' + node[0]);
    return handler(node, ctx);
  }
  function num(node, i, ctx) { return toNumber(ev(node[i], ctx)); }
  function arith(f) { return function (n, ctx) { return f(num(n, 1, ctx), num(n, 2, ctx)); }; }

  var NODES = Object.assign(Object.create(null), {
    num: function (n) { return +n[1]; },
    str: function (n) { return n[1]; },
    qname: function (n) { return n[1]; },
    ref: function (n, ctx) { return lookup(n[1], ctx); },
    dot: function (n, ctx) { return dotValue(ctx); },
    parent: function () { return ''; },
    attr: function (n, ctx) {
      var c = ctx.choice;
      if (c == null) return '';
      // in XLSForm the choice's value is its 'name' column
      if (n[1] === 'name') return answerValue(hasOwn.call(c, 'value') ? c.value : c.name, '');
      return answerValue(own(c, n[1]), '');
    },
    neg: function (n, ctx) { return -num(n, 1, ctx); },
    or: function (n, ctx) { return toBoolean(ev(n[1], ctx)) || toBoolean(ev(n[2], ctx)); },
    and: function (n, ctx) { return toBoolean(ev(n[1], ctx)) && toBoolean(ev(n[2], ctx)); },
    '=': function (n, ctx) { return equal(ev(n[1], ctx), ev(n[2], ctx)); },
    '!=': function (n, ctx) { return !equal(ev(n[1], ctx), ev(n[2], ctx)); },
    '<': arith(function (a, b) { return a < b; }),
    '<=': arith(function (a, b) { return a <= b; }),
    '>': arith(function (a, b) { return a > b; }),
    '>=': arith(function (a, b) { return a >= b; }),
    '+': arith(function (a, b) { return a + b; }),
    '-': arith(function (a, b) { return a - b; }),
    '*': arith(function (a, b) { return a * b; }),
    div: arith(function (a, b) { return a / b; }),  // IEEE division is XPath's div
    mod: arith(function (a, b) { return a % b; }),  // JavaScript's % is fmod, as XPath's mod
    call: call
  });

  // -- functions ----------------------------------------------------------------------

  // name -> [fewest arguments, most (-1: any), implementation, special]; a special
  // function takes its arguments unevaluated.
  var FUNCTIONS = Object.create(null);
  function def(name, low, high, f, special) { FUNCTIONS[name] = [low, high, f, special]; }

  function call(node, ctx) {
    var name = node[1], n = node.length - 2, spec = FUNCTIONS[name];
    if (!spec) throw new Error("FormsExpr: unknown function '" + name + "'");
    if (n < spec[0] || (spec[1] >= 0 && n > spec[1]) || (spec[1] === 7 && n % 2 === 0)) {
      throw new Error("FormsExpr: wrong number of arguments for '" + name + "': " + n);
    }
    if (spec[3]) return spec[2](node, ctx);
    var args = [];
    for (var i = 2; i < node.length; i++) args.push(ev(node[i], ctx));
    return spec[2](args, ctx);
  }

  def('if', 3, 3, function (n, ctx) { return ev(toBoolean(ev(n[2], ctx)) ? n[3] : n[4], ctx); }, 1);
  def('once', 1, 1, function (n, ctx) {
    var current = dotValue(ctx);
    return toString(current) !== '' ? current : ev(n[2], ctx);
  }, 1);
  def('position', 1, 1, function (n, ctx) {
    var here = ctx.here != null ? own(ctx.fields, ctx.here) : null;
    var depth = here && here.repeats ? here.repeats.length : 0;
    if (depth === 0) return 1;  // the parent of a question outside repeats is the form: first
    return ctx.index.length >= depth ? ctx.index[depth - 1] + 1 : NaN;
  }, 1);
  def('indexed-repeat', 3, 7, function (n, ctx) {
    if (n[2][0] !== 'ref') return '';
    var wanted = {};
    for (var i = 3; i < n.length; i += 2) {
      var p = num(n, i + 1, ctx);
      if (n[i][0] !== 'ref' || !(p >= 1 && p % 1 === 0)) return '';
      wanted[n[i][1]] = p - 1;
    }
    return lookup(n[2][1], ctx, wanted);
  }, 1);

  def('selected', 2, 2, function (a) { return tokens(a[0]).indexOf(trim(toString(a[1]))) >= 0; });
  def('count-selected', 1, 1, function (a) { return tokens(a[0]).length; });
  def('selected-at', 2, 2, function (a) {
    var t = tokens(a[0]), x = toNumber(a[1]);
    if (!isFinite(x)) return '';
    x = Math.trunc(x);
    return x >= 0 && x < t.length ? t[x] : '';
  });
  def('jr:choice-name', 2, 2, function (a, ctx) {
    var value = toString(a[0]);
    if (!value || !ctx.choiceLabel) return '';
    var label = ctx.choiceLabel(toString(a[1]), value);
    return label == null ? '' : String(label);
  });
  def('concat', 1, -1, function (a) { return items(a).map(toString).join(''); });
  def('join', 2, -1, function (a) { return items(a.slice(1)).map(toString).join(toString(a[0])); });
  def('coalesce', 2, 2, function (a) {
    var v = first(a[0]);
    return toString(v) !== '' ? v : first(a[1]);
  });
  def('string-length', 1, 1, function (a) { return chars(toString(a[0])).length; });
  // A position as String.prototype.slice reads it.
  function slicePosition(x, length) {
    if (x !== x) return 0;
    if (!isFinite(x)) return x > 0 ? length : 0;
    x = Math.trunc(x);
    return x < 0 ? Math.max(length + x, 0) : Math.min(x, length);
  }
  def('substr', 2, 3, function (a) {
    var s = chars(toString(a[0])), len = s.length;
    var start = slicePosition(toNumber(a[1]), len);
    var end = a.length > 2 ? slicePosition(toNumber(a[2]), len) : len;
    s = s.slice(start, Math.max(start, end));
    return typeof s === 'string' ? s : s.join('');
  });
  def('contains', 2, 2, function (a) { return toString(a[0]).indexOf(toString(a[1])) >= 0; });
  def('starts-with', 2, 2, function (a) { return toString(a[0]).startsWith(toString(a[1])); });
  def('ends-with', 2, 2, function (a) { return toString(a[0]).endsWith(toString(a[1])); });
  def('regex', 2, 2, function (a) {
    var re = compileRegex(toString(a[1]));
    return re !== null && re.test(toString(a[0]));
  });
  def('today', 0, 0, function (a, ctx) { return clock(ctx.now).today; });
  def('now', 0, 0, function (a, ctx) { return clock(ctx.now).now; });
  def('date', 1, 1, function (a) {
    var found = toDate(a[0]);
    if (!found) return '';
    if (found.iso.length === 10) return found;
    var f = wallClock(found);
    return dayValue(daysFromCivil(f[0], f[1], f[2]));
  });
  def('format-date', 2, 2, function (a) {
    var found = toDate(a[0]);
    if (!found) return '';
    var f = wallClock(found), fmt = toString(a[1]), out = '', i = 0;
    while (i < fmt.length) {
      var code = fmt[i] === '%' && i + 1 < fmt.length ? fmt[i + 1] : '';
      if (code && hasOwn.call(FORMATS, code)) {
        out += FORMATS[code](f);
        i += 2;
      } else {  // an unknown code stays as written
        out += fmt[i++];
      }
    }
    return out;
  });
  def('decimal-date-time', 1, 1, function (a) {
    var v = first(a[0]);
    var found = v instanceof DateValue ? v : parseDate(trim(toString(v)));
    return found ? found.days : toNumber(v);
  });
  def('int', 1, 1, function (a) {
    var x = toNumber(a[0]);
    return isFinite(x) ? Math.trunc(x) : x;
  });
  def('round', 1, 2, function (a) {
    return round(toNumber(a[0]), a.length > 1 ? toNumber(a[1]) : 0);
  });
  def('number', 1, 1, function (a) { return toNumber(a[0]); });
  def('string', 1, 1, function (a) { return toString(a[0]); });
  def('boolean', 1, 1, function (a) { return toBoolean(a[0]); });
  def('not', 1, 1, function (a) { return !toBoolean(a[0]); });
  def('true', 0, 0, function () { return true; });
  def('false', 0, 0, function () { return false; });
  def('abs', 1, 1, function (a) { return Math.abs(toNumber(a[0])); });
  def('pow', 2, 2, function (a) { return pow(toNumber(a[0]), toNumber(a[1])); });
  // max, min and sum skip what is not a number; ties keep the first, as Python's min/max.
  function numbers(a) { return items(a).map(toNumber).filter(function (x) { return x === x; }); }
  function extreme(greater) {
    return function (a) {
      var xs = numbers(a), best = xs.length ? xs[0] : NaN;
      for (var i = 1; i < xs.length; i++) if (greater ? xs[i] > best : xs[i] < best) best = xs[i];
      return best;
    };
  }
  def('min', 1, -1, extreme(false));
  def('max', 1, -1, extreme(true));
  def('sum', 1, 1, function (a) {
    var xs = numbers(a), total = 0;
    for (var i = 0; i < xs.length; i++) total += xs[i];
    return total;
  });
  def('count', 1, 1, function (a) { return Array.isArray(a[0]) ? a[0].length : 1; });
  def('count-non-empty', 1, 1, function (a) {
    return items(a).filter(function (v) { return toString(v) !== ''; }).length;
  });
  def('uuid', 0, 0, function (a, ctx) { return ctx.makeUuid ? ctx.makeUuid() : uuid(); });

  // Half toward +infinity on the number's shortest decimal form, exactly, in decimal
  // digits: floor(x * 10^p + 1/2) / 10^p, so round(2.675, 2) is 2.68.
  function round(x, places) {
    if (places !== places) return NaN;
    if (!isFinite(x) || places > 400 || (places >= 0 && Math.abs(x) >= 4503599627370496)) return x;
    var p = Math.max(Math.trunc(places), -400);
    var e = x.toExponential().split('e'), neg = e[0][0] === '-';
    var digits = e[0].replace(/^-/, '').replace('.', '');
    var k = digits.length - 1 - +e[1] - p;  // decimal places of x * 10^p
    if (k <= 0) return x;
    while (digits.length <= k) digits = '0' + digits;
    var whole = digits.slice(0, digits.length - k), frac = digits.slice(digits.length - k);
    // above one half goes up (in magnitude); exactly one half only when x > 0
    var half = frac[0] !== '5' ? (frac[0] > '5' ? 1 : -1) : /[1-9]/.test(frac.slice(1)) ? 1 : 0;
    if (half > 0 || (half === 0 && !neg)) whole = increment(whole);
    var r = +((neg ? '-' : '') + whole + 'e' + -p);
    return r === 0 && x < 0 ? -0 : r;
  }

  function increment(digits) {
    var i = digits.length - 1;
    while (i >= 0 && digits[i] === '9') i--;
    var tail = digits.slice(i + 1).replace(/9/g, '0');
    return i < 0 ? '1' + tail : digits.slice(0, i) + (+digits[i] + 1) + tail;
  }

  // -- pow ----------------------------------------------------------------------------
  // Python's math.pow (the C library's) is correctly rounded but for rare cases;
  // V8's Math.pow is one unit in the last place off for about one result in ten.
  // So: Math.pow for the special cases, else the power in double-double arithmetic
  // (pairs [hi, lo] of about 106 bits), rounded once.

  var SPLIT = 134217729, LN2 = [0.6931471805599453, 2.3190468138462996e-17];
  function norm(hi, lo) { var s = hi + lo; return [s, lo - (s - hi)]; }
  function twoProd(a, b) {  // Dekker: a * b exactly
    var p = a * b, t = SPLIT * a, ah = t - (t - a), al = a - ah, bh, bl;
    t = SPLIT * b;
    bh = t - (t - b);
    bl = b - bh;
    return [p, ah * bh - p + ah * bl + al * bh + al * bl];
  }
  function ddAdd(a, b) {
    var s = a[0] + b[0], v = s - a[0];
    return norm(s, a[0] - (s - v) + (b[0] - v) + a[1] + b[1]);
  }
  function ddMul(a, b) {
    var p = twoProd(a[0], b[0]);
    return norm(p[0], p[1] + a[0] * b[1] + a[1] * b[0]);
  }
  function ddDiv(a, b) {
    var q = a[0] / b[0], r = ddAdd(a, ddMul(b, [-q, 0]));
    return ddAdd([q, 0], [r[0] / b[0], 0]);
  }
  function ddLog(x) {  // x > 0: k ln 2 + 2 atanh((m - 1) / (m + 1)), x = m 2^k, m near 1
    var k = Math.floor(Math.log2(x)), p = Math.pow(2, k);
    if (p > x) p = Math.pow(2, --k);
    else if (p * 2 <= x) p = Math.pow(2, ++k);
    var m = x / p;
    if (m > Math.SQRT2) { m /= 2; k++; }
    var s = ddDiv([m - 1, 0], ddAdd([m, 0], [1, 0])), s2 = ddMul(s, s), term = s, sum = s;
    for (var i = 3; Math.abs(term[0]) > 1e-34; i += 2) {
      term = ddMul(term, s2);
      sum = ddAdd(sum, ddDiv(term, [i, 0]));
    }
    return ddAdd([2 * sum[0], 2 * sum[1]], ddMul(LN2, [k, 0]));
  }
  function ddExp(a) {  // [e^(a - k ln 2), k]: Taylor series of a 1024th, squared ten times
    var k = Math.round(a[0] / LN2[0]), r = ddAdd(a, ddMul(LN2, [-k, 0]));
    var x = [r[0] / 1024, r[1] / 1024], term = [1, 0], sum = [1, 0];
    for (var i = 1; Math.abs(term[0]) > 1e-36; i++) {
      term = ddDiv(ddMul(term, x), [i, 0]);
      sum = ddAdd(sum, term);
    }
    for (i = 0; i < 10; i++) sum = ddMul(sum, sum);
    return [sum[0], k];
  }

  function pow(x, y) {
    var r = Math.pow(x, y), a = Math.abs(x), v, n, b, k;
    if (!isFinite(r) || Math.abs(r) < 2.2250738585072014e-308 || a === 1 || !isFinite(a) ||
        y === 0 || y === 1) {
      return r;  // special cases, and tiny results that lose precision
    }
    if (y % 1 === 0 && Math.abs(y) <= 1024 && Math.abs(r) > 1e-290 && Math.abs(r) < 1e290) {
      // by squaring: exact while the power fits in 106 bits, so that ties round to even
      n = Math.abs(y);
      b = [a, 0];
      v = [1, 0];
      for (;;) {
        if (n % 2) v = ddMul(v, b);
        n = Math.floor(n / 2);
        if (!n) break;
        b = ddMul(b, b);
      }
      v = (y < 0 ? ddDiv([1, 0], v) : v)[0];
    } else {
      v = ddExp(ddMul([y, 0], ddLog(a)));
      k = Math.floor(v[1] / 2);
      v = v[0] * Math.pow(2, k) * Math.pow(2, v[1] - k);
    }
    return r < 0 ? -v : v;
  }

  function uuid() {
    var c = typeof crypto !== 'undefined' ? crypto : null;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), i;
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = '';
    for (i = 0; i < 16; i++) {
      h += (b[i] + 256).toString(16).slice(1) + (i > 2 && i < 10 && i % 2 ? '-' : '');
    }
    return h;
  }

  // -- regular expressions ------------------------------------------------------------
  // Only the subset Python's re and JavaScript's RegExp (u flag) read alike; any other
  // pattern never matches (portable_regex.py's _translate_regex is the reference).

  var QUANTIFIER = /^\{([0-9]+)(?:,([0-9]*))?\}/;
  var HEX = /^(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2})/;
  var SYNTAX = '^$\\.*+?()[]{}|/';
  var MAX_REPEAT = 4294967295;
  var regexCache = new Map();

  function compileRegex(pattern) {
    if (regexCache.has(pattern)) return regexCache.get(pattern);
    var source = translateRegex(pattern), re = null;
    if (source !== null) {
      try { re = new RegExp('^(?:' + source + ')$', 'u'); } catch (e) { re = null; }
    }
    if (regexCache.size >= 512) regexCache.clear();
    regexCache.set(pattern, re);
    return re;
  }

  function translateRegex(p) {
    var out = '', i = 0, inClass = false, groups = 0, stack = [], closed = {}, c, j, m;
    while (i < p.length) {
      c = p[i];
      if (c === '\\') {
        c = p[i + 1];
        i += 2;
        if (c === undefined) return null;
        if ('dwDWntrfv'.indexOf(c) >= 0 || c === 's' || (c === 'S' || c === 'B') && !inClass ||
            c === 'b') {
          out += '\\' + c;
        } else if (c === '0' && !/[0-9]/.test(p[i] || '')) {
          out += '\\x00';
        } else if (c >= '1' && c <= '9' && !inClass) {
          // Python reads an octal escape of three digits, else a group of one or two
          // digits that must be closed already; later digits are plain.
          j = /[0-9]/.test(p[i] || '') ? 2 : 1;
          if (j === 2 && c < '8' && p[i] < '8' && /[0-7]/.test(p[i + 1] || '')) {
            var code = parseInt(p.slice(i - 1, i + 2), 8);
            if (code > 255) return null;
            out += '\\x' + pad(code.toString(16), 2);
            i += 2;
          } else {
            var group = +p.slice(i - 1, i - 1 + j);
            if (!closed[group]) return null;
            out += '(?:\\' + group + ')';
            i += j - 1;
          }
        } else if ((m = HEX.exec(p.slice(i - 1, i + 4)))) {
          out += '\\' + m[0];
          i += m[0].length - 1;
        } else if (SYNTAX.indexOf(c) >= 0 || (c === '-' && inClass)) {
          out += '\\' + c;
        } else {
          return null;
        }
        continue;
      }
      if (inClass) {
        // nested sets and set operations: Python warns, JavaScript differs
        if (c === '[' || ('-&~|'.indexOf(c) >= 0 && p[i + 1] === c)) return null;
        inClass = c !== ']';
        out += c;
        i++;
        continue;
      }
      if (c === '[') {
        j = p[i + 1] === '^' ? i + 2 : i + 1;
        if (p[j] === ']') return null;  // '[]' and '[^]' mean different things
        out += p.slice(i, j);
        i = j;
        inClass = true;
        continue;
      }
      if (c === '(') {
        if (p[i + 1] === '?') {
          j = p.slice(i, i + 3);
          if (j !== '(?:' && j !== '(?=' && j !== '(?!') return null;
          // a lookahead in a group, so that a quantifier may follow it as in Python
          out += j === '(?:' ? j : '(?:' + j;
          stack.push(j === '(?:' ? 0 : -1);
          i += 3;
        } else {
          stack.push(++groups);
          out += c;
          i++;
        }
        continue;
      }
      if (c === ')') {
        if (!stack.length) return null;  // it would close the '^(?:' around the pattern
        j = stack.pop();
        if (j > 0) closed[j] = true;
        out += j === -1 ? '))' : ')';
        i++;
        continue;
      }
      if (c === ']' || c === '}') return null;
      if ('*+?{'.indexOf(c) >= 0) {
        m = c === '{' ? QUANTIFIER.exec(p.slice(i)) : null;
        if (c === '{' && (!m || +m[1] >= MAX_REPEAT || m[2] && +m[2] >= MAX_REPEAT)) return null;
        j = m ? i + m[0].length : i + 1;
        if (p[j] === '?') j++;  // lazy
        if (j < p.length && '*+?{'.indexOf(p[j]) >= 0) return null;  // possessive or doubled
        out += p.slice(i, j);
        i = j;
        continue;
      }
      out += c;
      i++;
    }
    return inClass ? null : out;
  }

  // -- the public surface -------------------------------------------------------------

  /* The value of an AST. ctx: {answers, fields, now, here, index, dot, choice,
   * choiceLabel, makeUuid}, as Python's Context: answers nested (repeat name -> array
   * of entry objects); fields name -> {type, repeats}; now ISO 8601 text with its
   * offset (default: the device's clock); here the question evaluated for; index its
   * entry numbers (from 0), one per enclosing repeat; dot the value of '.' when given
   * (undefined: the answer of `here`; null: unanswered); choice the attributes for a
   * choice_filter; choiceLabel(question, value) for jr:choice-name; makeUuid() for
   * uuid(), when its values must not be random. */
  function evaluate(ast, ctx) {
    ctx = ctx || {};
    return ev(ast, {
      answers: ctx.answers || {},
      fields: ctx.fields || {},
      now: ctx.now,
      here: ctx.here == null ? null : ctx.here,
      index: ctx.index || [],
      dot: ctx.dot,
      choice: ctx.choice == null ? null : ctx.choice,
      choiceLabel: ctx.choiceLabel || null,
      makeUuid: ctx.makeUuid || null
    });
  }

  // Names of the questions an AST refers to (jr:choice-name's question included), once each.
  function references(ast) {
    var found = [], stack = [ast], node;
    while (stack.length) {
      node = stack.pop();
      if (node[0] === 'ref' || node[0] === 'qname') {
        if (found.indexOf(node[1]) < 0) found.push(node[1]);
      } else if (node[0] !== 'num' && node[0] !== 'str' && node[0] !== 'attr') {
        for (var i = node.length - 1; i > 0; i--) if (Array.isArray(node[i])) stack.push(node[i]);
      }
    }
    return found;
  }

  return {
    evaluate: evaluate,
    references: references,
    toString: toString,
    toNumber: toNumber,
    toBoolean: toBoolean,
    typeOf: typeOf,
    parseDate: parseDate,
    isoNow: isoNow,
    DateValue: DateValue
  };
});
