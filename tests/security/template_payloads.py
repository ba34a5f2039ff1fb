"""Command templates that try to make command-service allocate without bound.

Each payload is rendered by the real `Renderer`; it must be refused (a `RenderError` whose
message matches `refused`) or render `output`, and in both cases raise the process's peak
memory by under 16 MB. The first five are the ones from issue #23. Families: str methods,
formatting (`%`, `str.format`), filters, `range`, big integers, lists, dicts, loops and
macros that grow values, blocks, escaping/JSON/URL encoding, slices and printing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TOO_BIG = r"would build a (text|list|number) of [\d,]+ (characters|items|bits); the limit is"
BUILT_TOO_BIG = r"built a (text|list|number) of [\d,]+ (characters|items|bits); the limit is"
MEMORY = r"over its memory limit of 8 MB"
PRINT = r"would turn a value of [\d,]+ characters into text"
BLOCK = r"would render more than 100,000 characters"
SLOW = r"took longer than"


@dataclass(frozen=True)
class Payload:
    family: str
    source: str
    refused: str | None = None  # a regex the refusal message matches
    output: str | None = None  # a regex the whole output matches (when it renders)
    variables: dict[str, Any] = field(default_factory=dict)


PAYLOADS: list[Payload] = [
    # issue #23, as reported
    Payload("str method", "{{ 'a'.ljust(300000000)|length }}", TOO_BIG),
    Payload("join filter", "{{ (range(1000)|join('x'*99999))|length }}", TOO_BIG),
    Payload("str.format", "{{ '{:>50000000}'.format(1) }}", TOO_BIG),
    Payload("str method", "{{ ('a'*1000).replace('a','b'*99999) }}", TOO_BIG),
    Payload("str method", "{{ 'a'.center(10**8) }}", TOO_BIG),
    # str methods
    Payload("str method", "{{ 'a'.rjust(10**8) }}", TOO_BIG),
    Payload("str method", "{{ '1'.zfill(10**8) }}", TOO_BIG),
    Payload("str method", "{{ ('\t' * 1000).expandtabs(100000) }}", TOO_BIG),
    Payload("str method", "{{ ('x' * 99999).join(range(1000)|map('string')) }}", TOO_BIG),
    Payload("str method", "{{ ('a' * 1000).translate({97: 'b' * 99999}) }}", TOO_BIG),
    Payload("str method", "{{ ('ß' * 60000).upper() }}", TOO_BIG),
    Payload("str method", "{{ ('x' * 90000).encode('utf-32')|length }}", TOO_BIG),
    Payload("str method", "{{ (2).to_bytes(10**8, 'big')|length }}", TOO_BIG),
    Payload("str method", "{{ 'x'.__mul__(10**8) }}", r"'__mul__' of 'str' object is unsafe"),
    Payload("str method", "{{ ('ab' * 50000).upper()|length }}", output="100000"),
    Payload("str method", "{{ ('a,' * 1000).split(',')|length }}", output="1001"),
    Payload("str method", "{{ ('ab ' * 33000).split()|length }}", output="33000"),
    Payload(
        "str method", "{{ text.split()|length }}", TOO_BIG, variables={"text": "ab " * 330_000}
    ),
    # repetition and concatenation
    Payload("repetition", "{{ 'x' * 10**8 }}", TOO_BIG),
    Payload("repetition", "{{ ('x' * 99999) ~ ('y' * 99999) }}", TOO_BIG),
    Payload("repetition", "{{ ('x' * 99999) + ('y' * 99999) }}", TOO_BIG),
    Payload("repetition", "{{ ('x' * 99999)|length }}", output="99999"),
    # formatting
    Payload("str.format", "{{ '{0:{1}}'.format('a', 10**8) }}", TOO_BIG),
    Payload("str.format", "{{ '{x:.100000000f}'.format_map({'x': 1.5}) }}", TOO_BIG),
    Payload("str.format", "{{ '{0}{0}{0}{0}'.format('y' * 40000) }}", TOO_BIG),
    Payload("str.format", "{{ '{0!r}'.format(range(30000)|list) }}", TOO_BIG),
    Payload("str.format", "{{ '{:>8}|{:.2f}'.format('ok', 3.14159) }}", output=r"      ok\|3\.14"),
    Payload("% formatting", "{{ '%100000000d' % 1 }}", TOO_BIG),
    Payload("% formatting", "{{ '%.100000000f' % 1.5 }}", TOO_BIG),
    Payload("% formatting", "{{ '%*s' % (100000000, 'a') }}", TOO_BIG),
    Payload("% formatting", "{{ '%(a)s%(a)s' % {'a': 'x' * 60000} }}", TOO_BIG),
    Payload("% formatting", "{{ '%s=%05d' % ('n', 42) }}", output="n=00042"),
    # filters
    Payload("filters", "{{ 'a'|center(10**8) }}", TOO_BIG),
    Payload("filters", "{{ ('a\n' * 50000)|indent(100) }}", TOO_BIG),
    Payload("filters", "{{ ('a\n' * 3)|indent('x' * 99999, first=true) }}", TOO_BIG),
    Payload("filters", "{{ 'a b c'|wordwrap(1, wrapstring='x' * 99999) }}", TOO_BIG),
    Payload("filters", "{{ '%s%s'|format('x' * 60000, 'y' * 60000) }}", TOO_BIG),
    Payload("filters", "{{ ('ab' * 40000)|replace('a', 'xyz') }}", TOO_BIG),
    Payload("filters", "{{ range(10)|batch(10**8, 'x')|list|length }}", TOO_BIG),
    Payload("filters", "{{ range(10)|slice(10**8)|list|length }}", TOO_BIG),
    Payload("filters", "{{ range(50000)|batch(2)|sum(start=[])|length }}", r"would copy"),
    Payload("filters", "{{ ([2**4095] * 2)|sum }}", BUILT_TOO_BIG),
    Payload("filters", "{{ range(100000)|map('center', 99999)|list|length }}", MEMORY),
    # a call per item: the budget stops it, or the time limit on a slow machine
    Payload("filters", "{{ range(100000)|map('string')|list|length }}", f"{MEMORY}|{SLOW}"),
    Payload("filters", "{{ (range(100000)|list)|string|length }}", PRINT),
    Payload(
        "filters", "{{ [{'a': 'x' * 60000}, {'a': 'y' * 60000}]|join(attribute='a') }}", TOO_BIG
    ),
    Payload("filters", "{{ 'see www.example.com'|urlize(target='x' * 99999) }}", TOO_BIG),
    Payload("filters", "{{ 1.5|round(100000000, 'floor') }}", TOO_BIG),
    Payload("filters", "{{ ('9' * 5000)|int }}", output="0"),
    Payload("filters", "{{ ('x' * 99999)|list|length }}", output="99999"),
    Payload("filters", "{{ range(1000)|list|pprint|length }}", output="5889"),
    Payload(
        "filters", "{{ {'b': 1, 'a': 2}|dictsort|list }}", output=r"\[\('a', 2\), \('b', 1\)\]"
    ),
    Payload("filters", "{{ 'abc'|wordwrap(5) }}", output="abc"),
    Payload("filters", "{{ 'abc'|truncate(5) }}", output="abc"),
    Payload("filters", "{{ ('word ' * 30)|truncate(20) }}", output=r"word word word\.\.\."),
    Payload("filters", "{{ ('lorem ipsum ' * 100)|wordwrap(40)|length }}", output="1199"),
    # escaping, JSON and URL encoding
    Payload("escaping", "{{ ('\"' * 99999)|e|length }}", BUILT_TOO_BIG),
    Payload("escaping", "{{ ('&' * 20000)|e|length }}", output="100000"),
    Payload("escaping", "{{ ('é' * 99999)|urlencode|length }}", BUILT_TOO_BIG),
    Payload("escaping", "{{ ('x' * 99999)|tojson|length }}", TOO_BIG),
    Payload("escaping", "{{ {'a': 'x' * 99999}|tojson }}", PRINT),
    Payload("escaping", "{{ {'a': 'x' * 9}|tojson(indent=10**8) }}", TOO_BIG),
    Payload("escaping", "{{ {'k': range(3)|list}|tojson }}", output=r'\{"k": \[0, 1, 2\]\}'),
    Payload("escaping", "{{ {'a': 'b'}|xmlattr }}", output=' a="b"'),
    # range
    Payload("range", "{{ range(10**9)|length }}", r"Range too big"),
    Payload("range", "{{ range(100000)|list|length }}", output="100000"),
    Payload("range", "{{ range(30000)|list }}", PRINT),
    # big integers
    Payload("big int", "{{ 2 ** 100000 }}", TOO_BIG),
    Payload("big int", "{{ 7 ** 5000 }}", TOO_BIG),
    Payload("big int", "{{ (10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000) }}", TOO_BIG),
    Payload("big int", "{{ (1).__lshift__(10**8) }}", r"'__lshift__' of 'int' object is unsafe"),
    Payload("big int", "{{ (2 ** 4000)|string|length }}", output="1205"),
    # lists and tuples
    Payload("lists", "{{ ([0] * 100000)|length }}", output="100000"),
    Payload("lists", "{{ ([0] * 100001)|length }}", TOO_BIG),
    Payload("lists", "{{ [[0] * 100000] * 100000 }}", PRINT),
    Payload("lists", "{{ (range(100000)|list + range(100000)|list)|length }}", TOO_BIG),
    Payload("lists", "{{ ((1,) * 100000 + (2,))|length }}", TOO_BIG),
    Payload("lists", "{{ [('x' * 99999)] * 50 }}", PRINT),
    # dicts
    Payload("dicts", "{{ {}.fromkeys(range(100000))|length }}", MEMORY),
    Payload("dicts", "{{ dict(a='x' * 99999, b='y' * 99999)|tojson }}", PRINT),
    Payload("dicts", "{{ dict(range(20)|batch(2)|list)|length }}", output="10"),
    # loops, macros and blocks that grow values
    Payload(
        "loops",
        "{% macro m(s, n) %}{% if n %}{{ m(s ~ s, n - 1) }}{% else %}{{ s|length }}"
        "{% endif %}{% endmacro %}{{ m('a', 40) }}",
        TOO_BIG,
    ),
    Payload(
        "loops",
        "{% macro grow(s) %}{{ grow(s ~ ('x' * 1000)) }}{% endmacro %}{{ grow('') }}",
        TOO_BIG,
    ),
    Payload(
        "loops", "{% for i in range(1000) %}{% set x = 'a'.ljust(99999) %}{% endfor %}done", MEMORY
    ),
    Payload(
        "loops",
        "{% for a in range(1000) %}{% for b in range(1000) %}{% set s = a ~ ('x' * 5000) %}"
        "{% endfor %}{% endfor %}done",
        MEMORY,
    ),
    Payload(
        "loops", "{% for i in range(1000) %}{% set x = 'a' ~ i %}{% endfor %}done", output="done"
    ),
    Payload(
        "loops",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        SLOW,
    ),
    Payload(
        "loops", "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", r"too deeply nested"
    ),
    Payload(
        "blocks",
        "{% set x %}{% for i in range(100000) %}ab{% endfor %}{% endset %}{{ x|length }}",
        f"{BLOCK}|{SLOW}",  # a loop fills the block: the cap or the time limit stops it
    ),
    Payload(
        "blocks",
        "{% macro m() %}{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}"
        "{% endfor %}{% endmacro %}{{ m()|length }}",
        f"{BLOCK}|{SLOW}",  # a loop fills the block: the cap or the time limit stops it
    ),
    Payload(
        "blocks",
        "{% macro wrap() %}{{ caller() ~ caller() }}{% endmacro %}"
        "{% call wrap() %}{{ 'x' * 60000 }}{% endcall %}",
        TOO_BIG,
    ),
    Payload(
        "blocks",
        "{% filter upper %}{% for i in range(100000) %}abc{% endfor %}{% endfilter %}",
        f"{BLOCK}|{SLOW}",  # a loop fills the block: the cap or the time limit stops it
    ),
    Payload("blocks", "{% set x %}{{ 'ab' * 3 }}{% endset %}{{ x|upper }}", output="ABABAB"),
    # namespaces: not offered to templates at all
    Payload(
        "namespace",
        "{% set ns = namespace(s='a') %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        r"'namespace' is undefined",
    ),
    # slices, printing and the output cap
    Payload("slices", "{{ ('x' * 99999)[1:]|length }}", output="99998"),
    Payload("slices", "{{ ([0] * 100000)[::-1]|length }}", output="100000"),
    Payload("output", "{% for i in range(100000) %}xxxxxxxx{% endfor %}", r"output is longer than"),
    # big values given to the template (an API response)
    Payload(
        "variables", "{{ data|sort|length }}", TOO_BIG, variables={"data": list(range(300_000))}
    ),
    Payload(
        "variables",
        "{{ text|truncate(10) }}",
        output=r"x{7}\.\.\.",
        variables={"text": "x" * 300_000},
    ),
    Payload("variables", "{{ text|upper }}", PRINT, variables={"text": "x" * 300_000}),
]
