// Azure Functions route templates (ASP.NET Core's syntax): parsing, matching, precedence, and the route
// prefix, as the gateway and the instance both use them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  belowPrefix,
  comparePrecedence,
  matchRoute,
  parseRouteTemplate,
  RouteTemplateError,
} from '../../src/runtimes/azure/route-template.js';

const match = (template: string, path: string) => matchRoute(parseRouteTemplate(template), path);

test('literals and parameters; literals ignore case, values are decoded', () => {
  assert.deepEqual(match('hi/{name}', 'hi/Ada'), { name: 'Ada' });
  assert.deepEqual(match('hi/{name}', 'HI/Ada%20L'), { name: 'Ada L' });
  assert.equal(match('hi/{name}', 'hi'), undefined);
  assert.equal(match('hi/{name}', 'hi/a/b'), undefined);
  assert.equal(match('hi/{name}', 'hi//'), undefined);
  assert.deepEqual(match('hi/{name}', 'hi/x/'), { name: 'x' }, 'a trailing slash is ignored');
  assert.deepEqual(match('/hi/', 'hi'), {}, 'edge slashes of a template say nothing');
  assert.deepEqual(match('', ''), {});
  assert.equal(match('hi/{name}', 'hi/%E0%A4%A'), undefined, 'bad percent-encoding matches nothing');
});

test('optional parameters, defaults and catch-alls', () => {
  assert.deepEqual(match('items/{id:int?}', 'items'), {});
  assert.deepEqual(match('items/{id:int?}', 'items/42'), { id: '42' });
  assert.equal(match('items/{id:int?}', 'items/x'), undefined);
  assert.deepEqual(match('page/{n=1}', 'page'), { n: '1' });
  assert.deepEqual(match('page/{n=1}', 'page/3'), { n: '3' });
  assert.deepEqual(match('files/{*path}', 'files/a/b%2Fc.txt'), { path: 'a/b/c.txt' });
  assert.deepEqual(match('files/{**path}', 'files'), {});
  assert.deepEqual(match('{a}/{b?}/{c?}', 'x'), { a: 'x' });
  assert.deepEqual(match('{a}/{b?}/{c?}', 'x/y/z'), { a: 'x', b: 'y', c: 'z' });
});

test('constraints', () => {
  const ok = (template: string, value: string) =>
    match(`v/${template}`, `v/${encodeURIComponent(value)}`) !== undefined;
  assert.ok(ok('{x:int}', '-12') && !ok('{x:int}', '2147483648') && !ok('{x:int}', '1.5'));
  assert.ok(ok('{x:long}', '2147483648') && !ok('{x:long}', '9223372036854775808'));
  assert.ok(ok('{x:bool}', 'True') && !ok('{x:bool}', 'yes'));
  assert.ok(ok('{x:guid}', '0f8fad5b-d9cb-469f-a165-70867728950e') && !ok('{x:guid}', '0f8fad5b'));
  assert.ok(ok('{x:double}', '1.5e3') && !ok('{x:double}', 'NaN'));
  assert.ok(ok('{x:datetime}', '2024-01-31') && !ok('{x:datetime}', 'soon'));
  assert.ok(ok('{x:alpha}', 'abcXYZ') && !ok('{x:alpha}', 'ab1'));
  assert.ok(ok('{x:minlength(2):maxlength(3)}', 'abc') && !ok('{x:minlength(2):maxlength(3)}', 'abcd'));
  assert.ok(ok('{x:length(2)}', 'ab') && !ok('{x:length(2)}', 'a'));
  assert.ok(ok('{x:length(1,2)}', 'ab') && !ok('{x:length(1,2)}', 'abc'));
  assert.ok(ok('{x:range(1,10)}', '10') && !ok('{x:range(1,10)}', '11'));
  assert.ok(ok('{x:min(5)}', '5') && !ok('{x:min(5)}', '4'));
  assert.ok(ok('{x:max(5)}', '5') && !ok('{x:max(5)}', '6'));
  assert.ok(
    ok('{x:regex(^\\d{{3}}$)}', '123') && !ok('{x:regex(^\\d{{3}}$)}', '1234'),
    'braces doubled in a regex',
  );
  assert.ok(ok('{x:regex(a:b)}', 'xa:bx'), 'a colon inside the parentheses belongs to the regex');
  assert.ok(ok('{x:file}', 'a.txt') && !ok('{x:file}', 'a'));
});

test('complex segments match right to left, as ASP.NET does', () => {
  assert.deepEqual(match('{file}.{ext}', 'a.b.c'), { file: 'a.b', ext: 'c' });
  assert.deepEqual(match('{file}.{ext?}', 'readme'), { file: 'readme' });
  assert.deepEqual(match('{file}.{ext?}', 'a.tar.gz'), { file: 'a.tar', ext: 'gz' });
  assert.deepEqual(match('v{n:int}', 'V2'), { n: '2' });
  assert.equal(match('v{n:int}', 'vx'), undefined);
  assert.deepEqual(match('{{literal}}/{x}', '%7Bliteral%7D/1'), { x: '1' });
});

test('templates that do not parse say why', () => {
  for (const [template, why] of [
    ['a/{b', /without a "\}"/],
    ['a/b}', /without a "\{"/],
    ['a/{}', /needs a name/],
    ['a/{b c}', /may hold only/],
    ['a/{b}/{B}', /more than once/],
    ['a/{id:nosuch}', /unknown constraint/],
    ['a/{id:int(3)}', /takes no arguments/],
    ['a/{id:range(1)}', /takes 2 integers/],
    ['a/{id:regex(()}', /does not parse/],
    ['{a?}/b', /must be in the last segment/],
    ['a//b', /empty segment/],
    ['{*a}/b', /whole last segment/],
    ['x{*a}', /whole last segment/],
    ['{*a?}', /optional already/],
    ['{a?=1}', /optional and have a default/],
    ['{x}{y}', /literal between them/],
    ['{x?}.{y}', /must come last/],
    ['a?b', /inside a parameter/],
    ['a*', /inside a parameter/],
    ['x'.repeat(1001), /longer than 1000/],
  ] as const) {
    assert.throws(
      () => parseRouteTemplate(template),
      (err: unknown) => err instanceof RouteTemplateError && why.test(err.message),
      template.slice(0, 40),
    );
  }
});

test('precedence: literal, complex, constrained, parameter, catch-all', () => {
  const order = ['{*all}', 'items/{id}', 'items/{id:int}', 'items/new', 'items/v{n}']
    .map(parseRouteTemplate)
    .sort(comparePrecedence)
    .map((r) => r.template);
  assert.deepEqual(order, ['items/new', 'items/v{n}', 'items/{id:int}', 'items/{id}', '{*all}']);
});

test('the route prefix', () => {
  assert.equal(belowPrefix('/api/hi/x', 'api'), 'hi/x');
  assert.equal(belowPrefix('/API/hi', 'api'), 'hi');
  assert.equal(belowPrefix('/api', 'api'), '');
  assert.equal(belowPrefix('/apix/hi', 'api'), undefined);
  assert.equal(belowPrefix('/other', 'api'), undefined);
  assert.equal(belowPrefix('/v1/api/x', 'v1/api'), 'x');
  assert.equal(belowPrefix('/hi', ''), 'hi');
  assert.equal(belowPrefix('/', ''), '');
});
