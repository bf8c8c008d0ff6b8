// ChatTemplate tests: every construct the interpreter supports, rendered and compared with what Python's
// jinja2 3.1.6 produced for the same template and context (set up as Hugging Face sets it up: trim_blocks,
// lstrip_blocks, loopcontrols, its tojson); then errors — syntax errors with their line and column,
// unknown filters/tests, jinja2's runtime errors, raise_exception — and truncated real templates, which
// must throw InferError.template and never crash. The real templates themselves are checked against
// jinja2 in Tests/oracle/test_chat_template.py.

import Foundation
import Formats
import Testing
@testable import Infer

struct TemplateCase: Sendable, CustomTestStringConvertible {
    let group: String
    let template: String
    let context: String
    let expected: String
    init(_ group: String, _ template: String, _ context: String, _ expected: String) {
        (self.group, self.template, self.context, self.expected) = (group, template, context, expected)
    }
    var testDescription: String { "\(group): \(template.prefix(60))" }
}

func renderTemplate(_ template: String, _ contextJSON: String = "{}") throws -> String {
    guard case let .object(pairs) = try TemplateValue.parse(contextJSON) else { throw InferError.template("context") }
    return try ChatTemplate(template).render(context: Dictionary(pairs, uniquingKeysWith: { $1 }))
}

/// The message of the InferError.template thrown by rendering, or nil if it rendered.
func templateErrorMessage(_ template: String, _ contextJSON: String = "{}") -> String? {
    do {
        _ = try renderTemplate(template, contextJSON)
        return nil
    } catch let InferError.template(message) {
        return message
    } catch {
        return "unexpected error type: \(error)"
    }
}

// Expected outputs: jinja2 3.1.6 set up by Tests/oracle/test_chat_template.py's hf_environment().
let jinja2Cases: [TemplateCase] = [
    TemplateCase("text", "plain text, no tags",
         "{}",
         "plain text, no tags"),
    TemplateCase("text", "{{ 'a' }}{# a comment #}{{ \"b\" }}",
         "{}",
         "ab"),
    TemplateCase("text", "line 1\nline 2\n",
         "{}",
         "line 1\nline 2"),
    TemplateCase("text", "a\r\nb\rc\n\n",
         "{}",
         "a\nb\nc\n"),
    TemplateCase("whitespace", "x  {{- ' y ' -}}  z",
         "{}",
         "x y z"),
    TemplateCase("whitespace", "<{% if true %}\n  yes\n{% endif %}\n>",
         "{}",
         "<  yes\n>"),
    TemplateCase("whitespace", "<\n    {% if true %}\n    yes\n    {% endif %}\n>",
         "{}",
         "<\n    yes\n>"),
    TemplateCase("whitespace", "<\n  {%- if true -%}\n  yes  \n  {%- endif -%}\n>",
         "{}",
         "<yes>"),
    TemplateCase("whitespace", "<\n  {%+ if true +%}\n  yes\n{% endif %}>",
         "{}",
         "<\n  \n  yes\n>"),
    TemplateCase("whitespace", "a\n  {# note #}\nb\n  {#- note -#}\n  c",
         "{}",
         "a\nbc"),
    TemplateCase("whitespace", "a\n  {{ 'v' }}\n  b",
         "{}",
         "a\n  v\n  b"),
    TemplateCase("whitespace", "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "  system\n  user\n  assistant\n"),
    TemplateCase("whitespace", "{% raw %}{{ not rendered }}{% endraw %}!",
         "{}",
         "{{ not rendered }}!"),
    TemplateCase("if", "{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %}",
         "{\"x\": 2}",
         "two"),
    TemplateCase("if", "{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %}",
         "{\"x\": 7}",
         "many"),
    TemplateCase("if", "{% if not x %}falsy{% endif %}{% if [] %}list{% endif %}{% if {} %}dict{% endif %}{% if '' %}s{% endif %}{% if 0.0 %}f{% endif %}",
         "{\"x\": null}",
         "falsy"),
    TemplateCase("for", "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.length }}:{{ loop.first }},{{ loop.last }};{% endfor %}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "1/0/3/2/3:True,False;2/1/2/1/3:False,False;3/2/1/0/3:False,True;"),
    TemplateCase("for", "{% for x in [] %}no{% else %}empty{% endfor %}",
         "{}",
         "empty"),
    TemplateCase("for", "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}",
         "{\"d\": {\"b\": 1, \"a\": [2, 3], \"c\": null}}",
         "b=1,a=[2, 3],c=None,"),
    TemplateCase("for", "{% for k, v in d | items %}{{ k }}={{ v }},{% endfor %}",
         "{\"d\": {\"b\": 1, \"a\": 2}}",
         "b=1,a=2,"),
    TemplateCase("for", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héllo' %}[{{ c }}]{% endfor %}",
         "{\"d\": {\"z\": 1, \"y\": 2}}",
         "zy|[h][é][l][l][o]"),
    TemplateCase("for", "{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role }}{{ loop.length }} {% endfor %}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "1user2 2assistant2 "),
    TemplateCase("for", "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}",
         "{}",
         "0246"),
    TemplateCase("for", "{% for x in 'abc' %}{{ loop.previtem }}>{{ x }}<{{ loop.nextitem }} {{ loop.cycle('odd', 'even') }}|{% endfor %}",
         "{}",
         ">a<b odd|a>b<c even|b>c< odd|"),
    TemplateCase("for", "{% for row in [[1, 2], [3]] %}{% for x in row %}{{ loop.index }}{{ x }}{% endfor %};{{ loop.index }}{% endfor %}",
         "{}",
         "1122;113;2"),
    TemplateCase("for", "{% for a, (b, c) in [(1, (2, 3)), (4, (5, 6))] %}{{ a + b + c }} {% endfor %}",
         "{}",
         "6 15 "),
    TemplateCase("set", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
         "{}",
         "231"),
    TemplateCase("set", "{% set ns = namespace(total=0, seen=[]) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}{% set ns.seen = ns.seen + [i] %}{% endfor %}{{ ns.total }} {{ ns.seen }}",
         "{}",
         "6 [1, 2, 3]"),
    TemplateCase("set", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}",
         "{}",
         "1two(1, 2)"),
    TemplateCase("set", "{% set block %}  Hello {{ name }}!  {% endset %}[{{ block }}]{% set up | upper %}x{{ name }}{% endset %}{{ up }}",
         "{\"name\": \"Ann\"}",
         "[  Hello Ann!  ]XANN"),
    TemplateCase("set", "{% for i in [1, 2] %}[{{ y }}]{% set y = i %}{% endfor %}[{{ y }}]",
         "{}",
         "[][][]"),
    TemplateCase("set", "{% if true %}{% set inner = 'leaks' %}{% endif %}{{ inner }}",
         "{}",
         "leaks"),
    TemplateCase("macro", "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet(greeting='Yo', name='Cy') }}",
         "{}",
         "Hello, Ann! Hi, Bob! Yo, Cy!"),
    TemplateCase("macro", "{% macro render(m) -%}\n<{{ m.role }}>{{ m.content | trim }}\n{%- endmacro %}{% for m in messages %}{{ render(m) }}{% endfor %}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "<system>sys<user>hi<assistant>yo"),
    TemplateCase("literals", "{{ 'it\\'s' }} {{ \"q\\\"uote\" }} {{ 'tab\\tnew\\nline' }} {{ '\\u00e9\\x41' }} {{ 'a' 'b' }}",
         "{}",
         "it's q\"uote tab\tnew\nline éA ab"),
    TemplateCase("literals", "{{ 42 }} {{ -7 }} {{ 1_000 }} {{ 3.5 }} {{ 1e3 }} {{ 2.5E-3 }} {{ true }} {{ True }} {{ false }} {{ none }} {{ None }}",
         "{}",
         "42 -7 1000 3.5 1000.0 0.0025 True True False None None"),
    TemplateCase("literals", "{{ [1, 'a', none, true, 2.0] }} {{ {'k': 'v', 'n': [1, {'x': none}]} }} {{ (1,) }} {{ (1, 'b') }} {{ () }}",
         "{}",
         "[1, 'a', None, True, 2.0] {'k': 'v', 'n': [1, {'x': None}]} (1,) (1, 'b') ()"),
    TemplateCase("literals", "{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 12345678.9 }} {{ 1e-5 }} {{ 0.0001 }} {{ 1 / 3 }} {{ 10 / 2 }} {{ -0.0 }}",
         "{}",
         "0.30000000000000004 1e+16 1000000000000000.0 12345678.9 1e-05 0.0001 0.3333333333333333 5.0 -0.0"),
    TemplateCase("literals", "{{ \"it's\" }}{{ [\"it's\", 'say \"x\"', 'both \\' \"'] }}",
         "{}",
         "it's[\"it's\", 'say \"x\"', 'both \\' \"']"),
    TemplateCase("operators", "{{ 'a' ~ 1 ~ none ~ undefined_thing }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 2 ** -1 }}",
         "{}",
         "a1None 7 9 3 -4 1 2 1024 3.5 0.5"),
    TemplateCase("operators", "{{ 'ab' + 'cd' }} {{ [1] + [2, 3] }} {{ 'ab' * 3 }} {{ 1 + true }} {{ 1.5 + 1 }} {{ 5 - 7.5 }}",
         "{}",
         "abcd [1, 2, 3] ababab 2 2.5 -2.5"),
    TemplateCase("operators", "{{ 1 < 2 }} {{ 2 <= 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' != 'a' }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }}",
         "{}",
         "True True False True True True False True True"),
    TemplateCase("operators", "{{ 'b' in 'abc' }} {{ 'x' not in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'role' in messages[0] }} {{ 'tool_calls' in messages[0] }}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "True True True True True False"),
    TemplateCase("operators", "{{ 0 or 'default' }} {{ 'first' or 'second' }} {{ 1 and 'both' }} {{ none and 'never' }} {{ not 0 }} {{ not not 'x' }}",
         "{}",
         "default first both None True True"),
    TemplateCase("operators", "{{ 'yes' if x else 'no' }} {{ 'yes' if not x else 'no' }} [{{ 'only' if x }}] {{ 'a' if x else 'b' if y else 'c' }}",
         "{\"x\": false, \"y\": true}",
         "no yes [] b"),
    TemplateCase("operators", "{{ -x }} {{ +x }} {{ -(x + 1) }} {{ -1 | abs }}",
         "{\"x\": 4}",
         "-4 4 -5 1"),
    TemplateCase("tests", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ n is none }} {{ x is not none }} {{ s is string }} {{ x is string }} {{ d is mapping }} {{ l is mapping }}",
         "{\"x\": 1, \"n\": null, \"s\": \"s\", \"d\": {}, \"l\": []}",
         "True False True True True True False True False"),
    TemplateCase("tests", "{{ s is iterable }} {{ l is iterable }} {{ d is iterable }} {{ x is iterable }} {{ y is iterable }} {{ s is sequence }} {{ x is number }} {{ 1.5 is number }} {{ true is number }} {{ s is number }}",
         "{\"x\": 1, \"s\": \"s\", \"d\": {}, \"l\": []}",
         "True True True False True True True True True False"),
    TemplateCase("tests", "{{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 'a' is equalto 'a' }} {{ 2 is gt 1 }}",
         "{}",
         "True False True False True True True True False True True"),
    TemplateCase("tests", "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'in', ['user', 'system']) | map(attribute='content') | list }}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "1 ['yo']"),
    TemplateCase("access", "{{ messages[0].role }} {{ messages[-1]['content'] }} {{ messages[1:] | length }} {{ messages[:-1] | map(attribute='role') | join(',') }} {{ messages[5] is defined }} {{ messages[0].missing is defined }}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "system yo 2 system,user False False"),
    TemplateCase("access", "{{ 'hello'[::-1] }} {{ 'hello'[1:3] }} {{ 'hello'[-2:] }} {{ [1, 2, 3, 4, 5][::2] }} {{ [1, 2, 3][5:] }} {{ 'héllo'[1] }} {{ [1, 2, 3][::-1] }} {{ 'abcdef'[4:1:-1] }}",
         "{}",
         "olleh el lo [1, 3, 5] [] é [3, 2, 1] edc"),
    TemplateCase("access", "{{ d['items'] }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys() | list }} {{ d.values() | list }}",
         "{\"d\": {\"a\": 1, \"items\": \"shadowed?\"}}",
         "shadowed? 1 None dflt ['a', 'items'] [1, 'shadowed?']"),
    TemplateCase("methods", "[{{ s.strip() }}] [{{ s.lstrip() }}] [{{ s.rstrip() }}] [{{ 'xxhixx'.strip('x') }}] {{ s.startswith('  He') }} {{ s.endswith(('!', 'x  ')) }} {{ s.upper() }} {{ s.lower() }}",
         "{\"s\": \"  Hello World  \"}",
         "[Hello World] [Hello World  ] [  Hello World] [hi] True False   HELLO WORLD     hello world  "),
    TemplateCase("methods", "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a-b-c'.rsplit('-', 1) }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'hello world'.title() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }}",
         "{}",
         "['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b c'] ['a-b', 'c'] bba Hello World They'Re Bill'S Hello"),
    TemplateCase("methods", "{{ '{} and {}'.format('a', 1) }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='Ann') }} {{ ','.join(['a', 'b']) }} {{ 'banana'.count('an') }} {{ 'banana'.find('n') }} {{ 'x1'.isdigit() }} {{ '12'.isdigit() }}",
         "{}",
         "a and 1 xyx Ann! a,b 2 2 False True"),
    TemplateCase("filters", "[{{ s | trim }}] {{ s | length }} {{ [1, 2] | count }} {{ d | length }} {{ s | upper }} {{ s | lower }} {{ 'hello big-world (x)' | title }} {{ 'hELLO' | capitalize }}",
         "{\"s\": \"  Hi There  \", \"d\": {\"a\": 1}}",
         "[Hi There] 12 2 1   HI THERE     hi there   Hello Big-World (X) Hello"),
    TemplateCase("filters", "{{ d | tojson }} {{ d | tojson(indent=2) }} {{ d | tojson(sort_keys=true) }} {{ 'Zürich \"q\" <tag>\\n' | tojson }} {{ 'é' | tojson(ensure_ascii=true) }} {{ [1, 2.5, none, true] | tojson(separators=(',', ':')) }}",
         "{\"d\": {\"b\": [1, {\"c\": null}], \"a\": \"x\", \"e\": [], \"f\": {}}}",
         "{\"b\": [1, {\"c\": null}], \"a\": \"x\", \"e\": [], \"f\": {}} {\n  \"b\": [\n    1,\n    {\n      \"c\": null\n    }\n  ],\n  \"a\": \"x\",\n  \"e\": [],\n  \"f\": {}\n} {\"a\": \"x\", \"b\": [1, {\"c\": null}], \"e\": [], \"f\": {}} \"Zürich \\\"q\\\" <tag>\\n\" \"\\u00e9\" [1,2.5,null,true]"),
    TemplateCase("filters", "{{ 42 | string }}{{ none | string }} {{ '12' | int + 1 }} {{ '3.7' | int }} {{ 'x' | int }} {{ 'x' | int(5) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'y' | float }} {{ 2 | float }}",
         "{}",
         "42None 13 3 0 5 3 2.5 0.0 2.0"),
    TemplateCase("filters", "{{ 'a-b-a' | replace('a', 'x') }} {{ [1, 2, 3] | join('+') }} {{ messages | join(', ', attribute='role') }} {{ [1, 2] | first }} {{ [1, 2] | last }} {{ 'abc' | list }} {{ 'abc' | first }}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "x-b-x 1+2+3 system, user, assistant 1 2 ['a', 'b', 'c'] a"),
    TemplateCase("filters", "{{ missing | default('dflt') }} {{ none | default('dflt') }} {{ '' | default('dflt', true) }} {{ 'set' | d('dflt') }} {{ missing | d }}|",
         "{}",
         "dflt None dflt set |"),
    TemplateCase("filters", "{{ [3, 1, 2] | reverse | list }} {{ 'abc' | reverse }} {{ [3, 1, 2] | sort }} {{ ['b', 'A', 'a'] | sort }} {{ ['b', 'A', 'a'] | sort(case_sensitive=true) }} {{ [1, 3, 2] | sort(reverse=true) }} {{ ['a', 'A', 'b', 'a'] | unique | list }}",
         "{}",
         "[2, 1, 3] cba [1, 2, 3] ['A', 'a', 'b'] ['A', 'a', 'b'] [3, 2, 1] ['a', 'b']"),
    TemplateCase("filters", "{{ messages | map(attribute='role') | list }} {{ ['a', 'b'] | map('upper') | list }} {{ [1, 0, 2, none] | select | list }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ messages | sort(attribute='role') | map(attribute='role') | list }}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "['system', 'user', 'assistant'] ['A', 'B'] [1, 2] [1, 3] [2, 4] ['assistant', 'system', 'user']"),
    TemplateCase("filters", "{{ 'x' | safe }} {{ '<a href=\"x\">&\\'</a>' | escape }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.567 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ -3 | abs }} {{ [1, 2, 3] | sum }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }}",
         "{}",
         "x &lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; 2.0 4.0 2.57 3.0 3 6 3 1"),
    TemplateCase("filters", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent('> ', blank=true) }}|{{ {'b': 1, 'a': 2} | dictsort }}",
         "{}",
         "a\n    b\n\n    c|  a\n  b|a\n> \n> b|[('a', 2), ('b', 1)]"),
    TemplateCase("undefined", "[{{ nope }}] {{ nope is defined }} {% if nope %}t{% else %}f{% endif %} {% for x in nope %}x{% else %}empty{% endfor %} {{ nope | length }} [{{ nope | trim }}] {{ nope | list }} {{ nope == nope }} {{ 'x' in nope }}",
         "{}",
         "[] False f empty 0 [] [] True False"),
    TemplateCase("undefined", "{{ messages[0].nope }}|{{ messages[0]['nope'] | default('d') }}|{{ none.strip is defined }}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "|d|False"),
    TemplateCase("dicts", "{% set d = {0: 'zero', 512: 'x', 'k': 1, none: 'n', (1, 2): 't'} %}{{ d[0] }} {{ d[512] }} {{ d[none] }} {{ d[(1, 2)] }} {{ d[1.0] is defined }} {{ d[false] }} {{ d | length }} {{ 512 in d }} {{ d }}",
         "{}",
         "zero x n t False zero 5 True {0: 'zero', 512: 'x', 'k': 1, None: 'n', (1, 2): 't'}"),
    TemplateCase("dicts", "{{ {1: 'a', 'b': 2, 2.5: none, true: [1]} | tojson }} {% for k, v in {3: 'c', 1: 'a', 2: 'b'} | dictsort %}{{ k }}{{ v }}{% endfor %} {{ {'b': 2, 'a': 1} | dictsort(by='value', reverse=true) }}",
         "{}",
         "{\"1\": [1], \"b\": 2, \"2.5\": null} 1a2b3c [('b', 2), ('a', 1)]"),
    TemplateCase("markup", "{{ \"it's\" | safe + \"<b> & 'q'\" }} {{ '<x>' + 'y' | safe }} {{ '<' ~ '>' | safe }} {{ '<a>' | escape | length }} {{ ('<a>' | safe) == '<a>' }}",
         "{}",
         "it's&lt;b&gt; &amp; &#39;q&#39; &lt;x&gt;y <> 9 True"),
    TemplateCase("filter-block", "[{% filter upper | trim %}  hello {{ name }}  {% endfilter %}]",
         "{\"name\": \"ann\"}",
         "[HELLO ANN]"),
    TemplateCase("filters", "{{ none | selectattr('x') | list }} {{ none | map(attribute='x') | list }} {{ [] | select | list }}",
         "{}",
         "[] [] []"),
    TemplateCase("filters", "{{ 'a b' | list | wordcount }} {{ 'one, two_2 three!' | wordcount }} {{ 3 | round }} {{ true | round }} {{ {'a': 1, 'b': 2} | reverse | list }} {{ 2.5 is divisibleby 0.5 }} {{ 3.0 is odd }} {{ (1, 'a') * 2 }} {{ 'a b' % [1] }}",
         "{}",
         "2 3 3 1 ['b', 'a'] True True (1, 'a', 1, 'a') a b"),
    TemplateCase("generation", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% set inner = 1 %}{% endgeneration %}{% else %}[{{ m.content }}]{% endif %}{% endfor %}{{ inner is defined }}",
         "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
         "[ sys ][hi]yoFalse"),
    TemplateCase("globals", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }}",
         "{}",
         "[0, 1, 2] [1, 3, 5] {'a': 1, 'b': 'x'} 1"),
    TemplateCase("with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
         "{}",
         "3[]"),
]

@Test(arguments: jinja2Cases) func rendersLikeJinja2(_ c: TemplateCase) throws {
    #expect(try renderTemplate(c.template, c.context) == c.expected)
}

@Test func parsesOnceRendersMany() throws {
    let t = try ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
    let a = try t.render(messages: [(role: "user", content: "one")], addGenerationPrompt: true, bosToken: "", eosToken: "")
    let b = try t.render(messages: [(role: "user", content: "two"), (role: "assistant", content: "2")],
                         addGenerationPrompt: false, bosToken: "", eosToken: "")
    #expect(a == "<user>one<assistant>")
    #expect(b == "<user>two<assistant>2")
}

@Test func renderPassesToolsAndDocumentsLikeHuggingFace() throws {
    // Hugging Face always passes tools and documents (None when absent), so `tools is defined` holds.
    let t = try ChatTemplate("{{ tools is defined }} {{ tools is none }} {{ documents is none }} {{ bos_token }}{{ eos_token }} {{ date_string }}")
    let none: [TemplateValue] = []
    #expect(try t.render(messages: none, addGenerationPrompt: false, bosToken: "<s>", eosToken: "</s>")
            == "True True True <s></s> ")
    let withTools = try t.render(messages: none, addGenerationPrompt: false, bosToken: "", eosToken: "",
                                 tools: [.object([("name", .string("f"))])], extra: ["date_string": .string("1 Jan")])
    #expect(withTools == "True False True  1 Jan")
}

@Test func smolLM2TemplateFromTheOracleFixtures() throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../oracle/templates/HuggingFaceTB-SmolLM2-135M-Instruct.jinja").path
    let source = try String(contentsOfFile: path, encoding: .utf8)
    let text = try ChatTemplate(source).render(messages: [(role: "user", content: "Hi")], addGenerationPrompt: true,
                                               bosToken: "<|im_start|>", eosToken: "<|im_end|>")
    #expect(text == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
}

@Test func tojsonKeepsKeyOrderAndPythonNumbers() throws {
    let tools = try TemplateValue.parse(#"{"z": 1, "a": 1.0, "m": [1e3, -0.5, 12345678901234567890], "s": "\u00e9\ud83e\udd99"}"#)
    #expect(try ChatTemplate("{{ t | tojson }}").render(context: ["t": tools])
            == #"{"z": 1, "a": 1.0, "m": [1000.0, -0.5, 1.2345678901234567e+19], "s": "é🦙"}"#)
}

@Test func templateValueFromFoundationAndFormatsJSON() throws {
    let any = try JSONSerialization.jsonObject(with: Data(#"{"b": [1, 2.5, 1.0, true, false, 0, null, "x"], "a": {}}"#.utf8))
    #expect(try TemplateValue(any: any) == .object([
        ("a", .object([])),
        ("b", .array([.int(1), .double(2.5), .double(1), .bool(true), .bool(false), .int(0), .null, .string("x")]))]))
    #expect(TemplateValue(JSON.object([("k", .array([.int(1), .double(1), .null]))]))
            == .object([("k", .array([.int(1), .double(1), .null]))]))
}

@Test func floatsPrintLikePythonRepr() {
    #expect(Infer.pythonFloatRepr(1) == "1.0")
    #expect(Infer.pythonFloatRepr(0.1) == "0.1")
    #expect(Infer.pythonFloatRepr(1e16) == "1e+16")
    #expect(Infer.pythonFloatRepr(1e15) == "1000000000000000.0")
    #expect(Infer.pythonFloatRepr(1.5e-5) == "1.5e-05")
    #expect(Infer.pythonFloatRepr(0.0001) == "0.0001")
    #expect(Infer.pythonFloatRepr(-2.5e300) == "-2.5e+300")
    #expect(Infer.pythonFloatRepr(123456.789) == "123456.789")
}

// MARK: - errors

@Test(arguments: [
    // (template, expected message fragment with its position)
    ("Hello {{ name", "line 1 col 7: unclosed '{{'"),
    ("a\n{% if x %}", "line 2 col 11: unexpected end of template, expected 'elif' or 'else' or 'endif'"),
    ("{# never closed", "line 1 col 1: missing end of comment tag"),
    ("x\n  {% for %}", "line 2 col 10: expected a name"),
    ("{% endfor %}", "line 1 col 4: unknown tag 'endfor'"),
    ("{% include 'other.jinja' %}", "line 1 col 4: the 'include' tag is not supported"),
    ("{{ 1 + }}", "line 1 col 8: unexpected end of print statement"),
    ("{{ 'abc }}", "line 1 col 4: unterminated string"),
    ("{{ x | no_such_filter }}", "line 1 col 6: no filter named 'no_such_filter'"),
    ("\n\n   {{ x is no_such_test }}", "line 3 col 9: no test named 'no_such_test'"),
    ("{{ (1, 2 }}", "line 1 col 10: unexpected '}'"),
    ("{% if true %}x{% endfor %}", "line 1 col 18: unknown tag 'endfor'"),
    ("{% set 1 = 2 %}", "line 1 col 8: expected a name"),
    ("{{ x y }}", "line 1 col 6: expected end of print statement"),
])
func syntaxErrorsNameTheirPosition(_ template: String, _ expected: String) {
    let message = templateErrorMessage(template)
    #expect(message?.contains(expected) == true, "got \(message ?? "no error")")
}

@Test(arguments: [
    // Runtime errors jinja2 also raises (attribute of Undefined, bad operands, unpacking, sandbox).
    ("{{ nope.attr }}", "line 1 col 4: 'nope' is undefined"),
    ("{{ messages[0].nope.deeper }}", "'dict object' has no attribute 'nope'"),
    ("{{ nope() }}", "'nope' is undefined"),
    ("{{ 'a' + 1 }}", "can only concatenate str"),
    ("{{ 1 + nope }}", "'nope' is undefined"),
    ("{{ 1 / 0 }}", "division by zero"),
    ("{% for a, b in [1, 2] %}{% endfor %}", "'int' object is not iterable"),
    ("{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute on non-namespace object"),
    ("{{ messages.append(1) }}", "unsafe"),
    ("{{ messages | selectattr('role') | length }}", "has no len()"),
    ("{{ none | tojson }}{{ nope | tojson }}", "not JSON serializable"),
    ("{{ messages | items }}", "Can only get item pairs from a mapping"),
    ("{{ 1 < 'a' }}", "not supported between instances of 'int' and 'str'"),
    ("{{ {[1]: 2} }}", "line 1 col 4: unhashable type: 'list'"),
    ("{{ [1, 'a'] | sort }}", "not supported between instances of 'str' and 'int'"),
    ("{{ 5 | indent }}", "unsupported operand type(s) for +=: 'int' and 'str'"),
    ("{{ nope | int }}", "'nope' is undefined"),
    ("{{ [{'a': 1}] | unique | list }}", "unhashable type: 'dict'"),
    ("{{ 0 ** -1 }}", "cannot be raised to a negative power"),
])
func runtimeErrorsAreTemplateErrors(_ template: String, _ expected: String) {
    let message = templateErrorMessage(template, #"{"messages": [{"role": "user", "content": "x"}]}"#)
    #expect(message?.contains(expected) == true, "got \(message ?? "no error")")
}

/// As jinja2: an unknown filter or test fails when the template is parsed, unless it sits inside an `if`,
/// where it fails only if that branch runs.
@Test func unknownFiltersFailAtParseTimeOutsideIfBlocks() throws {
    #expect(throws: InferError.template("line 1 col 6: no filter named 'nofilter'")) { try ChatTemplate("{{ x | nofilter }}") }
    #expect(throws: InferError.self) { try ChatTemplate("{% if false %}{% for i in [1] %}{{ i | nofilter }}{% endfor %}{% endif %}") }
    #expect(throws: InferError.self) { try ChatTemplate("{% macro m() %}{{ 1 is notest }}{% endmacro %}") }
    let deferred = try ChatTemplate("{% if x %}{{ x | nofilter }}{% else %}{{ 1 is notest }}{% endif %}")
    #expect(throws: InferError.template("line 1 col 16: no filter named 'nofilter'")) { try deferred.render(context: ["x": .bool(true)]) }
    #expect(throws: InferError.template("line 1 col 44: no test named 'notest'")) { try deferred.render(context: [:]) }
    #expect(try ChatTemplate("{% if false %}{{ x | nofilter }}{% endif %}ok").render(context: [:]) == "ok")
}

@Test func raiseExceptionCarriesTheTemplatesMessage() {
    let message = templateErrorMessage("ok\n{% if messages[0].role == 'user' %}{{ raise_exception('Roles must alternate: \"' ~ messages[0].role ~ '\"') }}{% endif %}",
                                #"{"messages": [{"role": "user", "content": "x"}]}"#)
    #expect(message == "line 2 col 39: raise_exception: Roles must alternate: \"user\"")
    let error = InferError.template(message ?? "")
    #expect(error.description.hasPrefix("chat template: line 2"))
}

/// Prefixes of every real template (about 200 cuts each) either render or throw InferError.template.
@Test func truncatedRealTemplatesNeverCrash() throws {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../oracle/templates")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".jinja") }.sorted()
    #expect(files.count >= 6)
    let context = #"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "tools": null}"#
    var rendered = 0, failed = 0
    for file in files {
        let source = Array(try String(contentsOfFile: folder.appendingPathComponent(file).path, encoding: .utf8))
        for cut in stride(from: 0, to: source.count, by: max(7, source.count / 200)) {
            switch templateErrorMessage(String(source[..<cut]), context) {
            case nil: rendered += 1
            case let message?:
                #expect(!message.hasPrefix("unexpected error type"), "\(file) cut at \(cut): \(message)")
                failed += 1
            }
        }
    }
    #expect(rendered > 0 && failed > 0)
}
