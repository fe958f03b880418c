// The shared expression vectors (tests/expressions/vectors.json), run against the
// browser's evaluator, forms_server/static/expr.js. The Python evaluator passes the
// same vectors (tests/test_expressions.py), so the two cannot drift apart.
//
// There is one parser, in Python: the ASTs come from forms_server.expressions.parse,
// run once for all vectors with the project's Python (FORMS_PYTHON, else
// .venv/bin/python, else python3). Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const FormsExpr = require(path.join(ROOT, 'forms_server', 'static', 'expr.js'));
const VECTORS_FILE = path.join(ROOT, 'tests', 'expressions', 'vectors.json');
const DOC = JSON.parse(readFileSync(VECTORS_FILE, 'utf8'));

const PARSE_ALL = `
import json, sys
from forms_server.expressions import parse, references
out = []
for vector in json.load(open(sys.argv[1], encoding="utf-8"))["vectors"]:
    try:
        ast = parse(vector["expr"]).ast
        out.append({"ast": ast, "references": sorted(references(ast))})
    except Exception as exc:
        out.append({"error": f"{type(exc).__name__}: {exc}"})
json.dump(out, sys.stdout)
`;

function python() {
  if (process.env.FORMS_PYTHON) return process.env.FORMS_PYTHON;
  const venv = path.join(ROOT, '.venv', process.platform === 'win32' ? 'Scripts' : 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

const PARSED = JSON.parse(execFileSync(python(), ['-c', PARSE_ALL, VECTORS_FILE], {
  cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
}));
assert.equal(PARSED.length, DOC.vectors.length);

const own = (o, k) => (o != null && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);

// The context a vector describes, as tests/test_expressions.py builds it.
function contextOf(vector) {
  const labels = vector.labels;
  const ctx = {
    answers: 'answers' in vector ? vector.answers : DOC.answers,
    fields: DOC.fields,
    now: 'now' in vector ? vector.now : DOC.now,
    here: own(vector, 'here') ?? null,
    index: vector.index ?? [],
    choice: own(vector, 'choice') ?? null,
    choiceLabel: labels ? (q, v) => own(own(labels, q), v) ?? '' : null,
  };
  if ('dot' in vector) ctx.dot = vector.dot;
  return ctx;
}

function nameOf(vector) {
  const where = [];
  if ('here' in vector) where.push(`here=${vector.here}`);
  if ('index' in vector) where.push(`index=${JSON.stringify(vector.index)}`);
  if ('dot' in vector) where.push(`dot=${JSON.stringify(vector.dot)}`);
  for (const key of ['answers', 'choice', 'labels', 'now']) {
    if (key in vector) where.push(`with ${key}`);
  }
  return where.length ? `${vector.expr}  [${where.join(', ')}]` : vector.expr;
}

DOC.vectors.forEach((vector, i) => {
  test(nameOf(vector), () => {
    const parsed = PARSED[i];
    assert.equal(parsed.error, undefined, `Python could not parse it: ${parsed.error}`);
    const result = FormsExpr.evaluate(parsed.ast, contextOf(vector));
    assert.deepEqual(
      { value: FormsExpr.toString(result), type: FormsExpr.typeOf(result) },
      { value: vector.expected, type: vector.type },
    );
    assert.deepEqual([...FormsExpr.references(parsed.ast)].sort(), parsed.references);
  });
});
