#!/usr/bin/env python3
"""Expected outputs for the Jinja interpreter's unit tests, taken from jinja2 3.1.6 in the
environment transformers uses (see gen_chat_template_goldens.make_environment).

Writes tests/chat_template/data/jinja_cases.json: a list of
{"category", "template", "context", "output"} or {..., "error"} when jinja2 raises.
Usage: python3 tools/gen_jinja_cases.py
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from gen_chat_template_goldens import make_environment  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "chat_template" / "data" / "jinja_cases.json"

CTX = {
    "s": "Hello World", "n": 7, "f": 2.5, "l": [3, 1, 2], "d": {"b": 1, "a": 2},
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "x": None},
             {"role": "user", "content": "bye"}],
    "u": "héllo wörld 你好", "none": None, "t": True, "ws": "  pad \n",
}

CASES = {
    "whitespace": [
        "a\n{% if true %}\nb\n{% endif %}\nc",
        "a  {%- if true -%}  b  {%- endif -%}  c",
        "  {% if true %}x{% endif %}  \n  y",
        "{{ 1 }}\n{{ 2 }}\n",
        "a {{- ' b ' -}} c",
        "{# comment #}\nx\n  {# indented comment #}\ny",
        "{%+ if true %}x{% endif %}",
        "  {%+ if true %}x{% endif %}",
        "{% raw %}{{ not evaluated }}{% endraw %}",
        "a\n  {%- raw %} {{ x }} {% endraw -%}\n b",
        "line1\r\nline2\r\n",
        "{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n",
        "{{- 'x' }}   \n  {{- 'y' }}",
        "{%- set x = 1 -%}\n\n{{ x }}",
        "a {# c -#}\n\n   b",
        "x\n\t{% if true %}\t\n\ty{% endif %}",
        "{%- macro m() %}\n  inner\n{% endmacro %}\n[{{ m() }}]",
        "{% raw -%}\n  x  \n{%- endraw %}",
        "text\n{%- if true -%}\n\n  mid  \n\n{%- endif -%}\n\nend",
        "{{ '{{' }} {{ '}}' }} {{ {'a': {'b': 1}} }}{% set e = {'a': {'b': 1}}%}{{ e.a.b }}",
    ],
    "statements": [
        "{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}",
        "{% for x in l %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
        "{% for x in l %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.length }}|{% endfor %}",
        "{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}",
        "{% for x in l %}{{ loop.cycle('a', 'b') }}{% endfor %}",
        "{% for x in [] %}x{% else %}empty{% endfor %}",
        "{% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}",
        "{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}",
        "{% for k in d %}{{ k }}{% endfor %}",
        "{% for x in l %}{% if x == 1 %}{% break %}{% endif %}{{ x }}{% endfor %}",
        "{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}",
        "{% set x = 1 %}{% for i in l %}{% set x = i %}{% endfor %}{{ x }}",
        "{% set ns = namespace(x=1, items=[]) %}{% for i in l %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}",
        "{% set a, b = 1, 2 %}{{ a }}{{ b }}",
        "{% set (a, b) = [3, 4] %}{{ a + b }}",
        "{% set block %}inner {{ n }}{% endset %}[{{ block }}]",
        "{% set block | upper %}inner{% endset %}{{ block }}",
        "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}",
        "{% macro m(a) %}{{ a }}{{ kwargs }}{% endmacro %}{{ m(1, z=2) }}",
        "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}",
        "{% macro wrap() %}<{{ caller(5) }}>{% endmacro %}{% call(v) wrap() %}v={{ v }}{% endcall %}",
        "{% filter upper %}shout {{ s }}{% endfilter %}",
        "{% with a = 5 %}{{ a }}{% endwith %}{{ a }}",
        "{% for m in msgs %}{% for c in m.content %}{{ c }}{% endfor %}/{% endfor %}",
        "{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{% endfor %}",
        "{% if x is defined %}d{% else %}u{% endif %}{{ x }}",
        "{% generation %}gen {{ n }}{% endgeneration %}",
        "{% macro f(a, b=2) -%}{{ a }}{{ b }}{{ varargs }}{%- endmacro %}{{ f(1, 2, 3) }}{{ f(1) }}",
        "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{% endfor %}{{ x }}",
    ],
    "expressions": [
        "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }}",
        "{{ 7 / 2 }} {{ 6 / 2 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 3.0 * 2 }}",
        "{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2] }}",
        "{{ n > 5 and n < 10 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ not n }} {{ none or 'x' }} {{ 0 and 1 }}",
        "{{ 'a' in 'cat' }} {{ 2 in l }} {{ 'b' in d }} {{ 'z' not in d }}",
        "{{ 'yes' if n else 'no' }} {{ 'x' if false }}|",
        "{{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[::-1] }} {{ s[:5] }} {{ s[::-1] }} {{ u[1:4] }}",
        "{{ d.a }} {{ d['b'] }} {{ d.missing }}|{{ msgs[0].role }} {{ msgs.0.content }}",
        "{{ [1, 'a', none, true, 1.5] }} {{ {'k': [1, {'z': 'q'}]} }} {{ (1,) }} {{ (1, 2) }}",
        "{{ \"it's\" }} {{ 'say \"hi\"' }} {{ ['it\\'s'] }} {{ 'tab\\there' }} {{ '\\u00e9' }}",
        "{{ s.upper() }} {{ s.lower() }} {{ s.startswith('He') }} {{ s.endswith(('x', 'ld')) }}",
        "{{ ws.strip() }}|{{ ws.lstrip() }}|{{ ws.rstrip() }}|{{ 'xxhixx'.strip('x') }}",
        "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}",
        "{{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }} {{ s.find('o') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }}",
        "{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}",
        "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ d.keys() | list }} {{ d.values() | list }}",
        "{{ none }} {{ t }} {{ f }} {{ n }} {{ undefined_name }}|",
        "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }}",
        "{{ dict(a=1, b='x') }} {{ namespace(a=1).a }}",
        "{{ strftime_now('%Y-%m-%d %H:%M') }}",
        "{{ -n }} {{ +f }} {{ -(3) }} {{ 1 - -1 }}",
        "{{ 'abc' == 'abc' }} {{ 1 == 1.0 }} {{ [1, 2] == [1, 2] }} {{ d == {'a': 2, 'b': 1} }} {{ none == none }}",
        "{{ 'ab' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2.0 }}",
        "{{ l | length > 2 }} {{ -1 | abs }} {{ 'x' ~ l | length }}",
        "{{ 'a' 'b' }}",
        "{{ u | length }} {{ u[0] }} {{ u[-1] }}",
        "{{ '%s-%d' % ('a', 3) }} {{ '%5.2f|%-4s|%03d' % (3.14159, 'x', 7) }} {{ '%s' % 'solo' }} {{ '100%%' % () }}",
    ],
    "filters": [
        "{{ l | length }} {{ s | count }} {{ d | length }} {{ undefined_name | length }}",
        "{{ ws | trim }}|{{ 'xxhixx' | trim('x') }}|{{ s | upper }} {{ s | lower }} {{ 'hello-world foo' | title }} {{ 'hELLO' | capitalize }}",
        "{{ s | replace('o', '0') }} {{ l | join(', ') }} {{ msgs | join('|', attribute='role') }} {{ [1, none] | join }}",
        "{{ undefined_name | default('dflt') }} {{ none | default('x') }} {{ '' | default('e', true) }} {{ 0 | d(5) }}",
        "{{ l | first }} {{ l | last }} {{ s | first }} {{ [] | first }}|{{ s | list }}",
        "{{ d | tojson }} {{ msgs | tojson }} {{ u | tojson }} {{ 'q\"\\\\\\n' | tojson }} {{ f | tojson }} {{ none | tojson }}",
        "{{ d | tojson(indent=2) }}",
        "{{ msgs[:1] | tojson(indent=4) }} {{ [] | tojson(indent=2) }} {{ {} | tojson(indent=2) }}",
        "{{ d | tojson(separators=(',', ':')) }} {{ d | tojson(sort_keys=true) }} {{ u | tojson(true) }}",
        "{{ n | string }} {{ none | string }} {{ l | string }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(3) }} {{ 3.9 | int }}",
        "{{ '2.5' | float }} {{ 2 | float }} {{ 'bad' | float }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3 | round }} {{ 2.1 | round(0, 'ceil') }}",
        "{{ d | items | list }} {{ undefined_name | items | list }}",
        "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}",
        "{{ msgs | rejectattr('role', 'eq', 'user') | list | length }} {{ msgs | selectattr('x') | list }} {{ msgs | selectattr('x', 'none') | list | length }}",
        "{{ msgs | map(attribute='missing', default='m') | list }} {{ l | map('string') | list }} {{ ['a', 'b'] | map('upper') | join }}",
        "{{ l | select('odd') | list }} {{ l | reject('odd') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ l | select('>', 1) | list }}",
        "{{ ['a', 'A', 'b', 'a'] | unique | list }} {{ [3, 1, 3] | unique | list }}",
        "{{ l | reverse | list }} {{ s | reverse }} {{ l | sort }} {{ l | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }} {{ msgs | sort(attribute='content') | map(attribute='content') | join(',') }}",
        "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'x\\ny' | indent('> ') }}",
        "{{ 'one two, three' | wordcount }} {{ '<b>' | safe }} {{ '<b>&\"' | e }} {{ '<a>' | escape }}",
        "{{ '<a>' | safe + '<b>' }} {{ '<a>' + '<b>' | safe }} {{ ('<a>' | safe) ~ '<b>' }}",
        "{{ l | sum }} {{ l | min }} {{ l | max }} {{ d | dictsort }} {{ none | selectattr('a') | list }}",
        "{{ l | batch(2) | list }} {{ l | batch(2, 0) | list }} {{ 'abc' | center(9) }}|{{ 'ab' | center(5) }}|",
        "{{ u | upper }} {{ u | reverse }} {{ u | wordcount }} {{ \"it's a (big)-deal\" | title }} {{ \"it's\".title() }} {{ 'ÉCOLE ß' | lower }}",
    ],
    "tests": [
        "{{ x is defined }} {{ n is defined }} {{ x is undefined }} {{ none is none }} {{ n is not none }}",
        "{{ s is string }} {{ n is string }} {{ n is number }} {{ f is number }} {{ t is number }} {{ n is integer }} {{ f is float }} {{ t is boolean }}",
        "{{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ s is iterable }} {{ n is iterable }} {{ l is sequence }} {{ d is sequence }}",
        "{{ t is true }} {{ 1 is true }} {{ false is false }} {{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }}",
        "{{ n is equalto 7 }} {{ n is eq(7) }} {{ n is ne 7 }} {{ 2 is in l }} {{ 'hi' is lower }} {{ 'HI' is upper }} {{ range is callable }}",
        "{{ x is defined and x }} {{ msgs[1].x is none }} {{ msgs[0].x is defined }} {{ n is gt 3 }} {{ n is lt 3 }}",
    ],
    "errors": [
        "{{ raise_exception('boom') }}",
        "{% if %}x{% endif %}",
        "{% for x in l %}no end",
        "{{ x.y }}",
        "{{ 1 + 'a' }}",
        "{{ 'a' + none }}",
        "{% unknowntag %}",
        "{{ l.append(4) }}",
        "{{ range(10 ** 9) | length }}",
        "{{ none | tojson }}{{ x | tojson }}",
        "{{ 1 / 0 }}",
        "{{ (1, 2 }}",
        "{% break %}",
        "{{ l | nosuchfilter }}",
        "{% if false %}{{ l | nosuchfilter }}{{ l is nosuchtest }}{% endif %}",
        "{{ n is nosuchtest }}",
        "{{ 'abc",
        "{% set ns = namespace() %}{% set ns._private = 1 %}",
        "{% macro r(k) %}{{ r(k) }}{% endmacro %}{{ r(1) }}",
        "{{ n() }}",
        "{% for a, b in l %}{% endfor %}",
        "{{ d | items | first | first | first | nosuch }}",
    ],
}


def main():
    env = make_environment()
    cases = []
    for category, templates in CASES.items():
        for template in templates:
            entry = {"category": category, "template": template, "context": CTX}
            try:
                entry["output"] = env.from_string(template).render(**CTX)
            except Exception as e:  # the C++ side must throw as well
                entry["error"] = f"{type(e).__name__}: {e}"
            cases.append(entry)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"cases": cases}, f, ensure_ascii=False, indent=1)
    print(f"{len(cases)} cases, {sum('error' in c for c in cases)} errors -> {OUT}")


if __name__ == "__main__":
    main()
