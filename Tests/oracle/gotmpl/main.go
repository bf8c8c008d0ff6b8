// gotmpl: the oracle for llmkit's Go template engine. Reads JSON lines {"template", "data", "mode"} on stdin and
// prints one JSON line per case, {"output": …} or {"error": …}, from Go's own text/template:
//
//	plain  — text/template's defaults,
//	zero   — Option("missingkey=zero") and a `json` function (the options Ollama parses TEMPLATEs with),
//	ollama — data {"messages", "tools", "prompt", "suffix"} rendered the way Ollama's template package executes
//	         a Modelfile TEMPLATE (written here from Ollama's documented behaviour: collated messages, .Response
//	         appended to templates without .Messages/.Response, the per-turn legacy path cut after .Response).
//
// JSON numbers written as integers are passed as int (llmkit keeps them as integers), others as float64.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"text/template/parse"

	"llmkit.test/gotmpl/api"
)

var funcs = template.FuncMap{"json": func(v any) string { b, _ := json.Marshal(v); return string(b) }}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		line := in.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var c struct {
			Template string          `json:"template"`
			Data     json.RawMessage `json:"data"`
			Mode     string          `json:"mode"`
		}
		res := map[string]string{}
		if err := json.Unmarshal(line, &c); err != nil {
			res["error"] = "bad case: " + err.Error()
		} else if s, err := run(c.Template, c.Data, c.Mode); err != nil {
			res["error"] = err.Error()
		} else {
			res["output"] = s
		}
		b, _ := json.Marshal(res)
		out.Write(b)
		out.WriteByte('\n')
	}
}

func decode(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}

func run(src string, raw json.RawMessage, mode string) (string, error) {
	switch mode {
	case "", "plain", "zero":
		t := template.New("")
		if mode == "zero" {
			t = t.Option("missingkey=zero").Funcs(funcs)
		}
		t, err := t.Parse(src)
		if err != nil {
			return "", err
		}
		data, err := decode(raw)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		err = t.Execute(&b, data)
		return b.String(), err
	case "ollama":
		return ollama(src, raw)
	}
	return "", fmt.Errorf("unknown mode %q", mode)
}

// identifiers: the field and variable names of a tree, as Ollama's Vars collects them.
func identifiers(n parse.Node, set map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				identifiers(c, set)
			}
		}
	case *parse.ActionNode:
		identifiers(n.Pipe, set)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			identifiers(n.Pipe, set)
		}
	case *parse.IfNode:
		identifiers(&n.BranchNode, set)
	case *parse.WithNode:
		identifiers(&n.BranchNode, set)
	case *parse.RangeNode:
		identifiers(&n.BranchNode, set)
	case *parse.BranchNode:
		identifiers(n.Pipe, set)
		identifiers(n.List, set)
		if n.ElseList != nil {
			identifiers(n.ElseList, set)
		}
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				identifiers(a, set)
			}
		}
	case *parse.FieldNode:
		for _, s := range n.Ident {
			set[strings.ToLower(s)] = true
		}
	case *parse.VariableNode:
		for _, s := range n.Ident {
			set[strings.ToLower(s)] = true
		}
	}
}

// cutAfterResponse removes, in walk order, everything after the first field naming Response.
func cutAfterResponse(root *parse.ListNode) *parse.ListNode {
	cut := false
	var pipe func(p *parse.PipeNode) *parse.PipeNode
	arg := func(a parse.Node) parse.Node {
		if f, ok := a.(*parse.FieldNode); ok {
			for _, s := range f.Ident {
				if s == "Response" {
					cut = true
					return a
				}
			}
		}
		if cut {
			return nil
		}
		if p, ok := a.(*parse.PipeNode); ok {
			if q := pipe(p); q != nil {
				return q
			}
			return nil
		}
		return a
	}
	pipe = func(p *parse.PipeNode) *parse.PipeNode {
		if cut {
			return nil
		}
		var cmds []*parse.CommandNode
		for _, c := range p.Cmds {
			var args []parse.Node
			for _, a := range c.Args {
				if b := arg(a); b != nil {
					args = append(args, b)
				}
			}
			if len(args) == 0 {
				return nil
			}
			c.Args = args
			cmds = append(cmds, c)
		}
		if len(cmds) == 0 {
			return nil
		}
		p.Cmds = cmds
		return p
	}
	var list func(l *parse.ListNode) *parse.ListNode
	branch := func(b *parse.BranchNode) {
		b.List = list(b.List)
		if b.ElseList != nil {
			if cut {
				b.ElseList = nil
			} else {
				b.ElseList = list(b.ElseList)
			}
		}
	}
	list = func(l *parse.ListNode) *parse.ListNode {
		var nodes []parse.Node
		for _, n := range l.Nodes {
			if cut {
				continue
			}
			switch t := n.(type) {
			case *parse.ActionNode:
				if p := pipe(t.Pipe); p != nil {
					t.Pipe = p
					nodes = append(nodes, t)
				}
			case *parse.IfNode:
				branch(&t.BranchNode)
				nodes = append(nodes, t)
			case *parse.WithNode:
				branch(&t.BranchNode)
				nodes = append(nodes, t)
			case *parse.RangeNode:
				branch(&t.BranchNode)
				nodes = append(nodes, t)
			default:
				nodes = append(nodes, n)
			}
		}
		l.Nodes = nodes
		return l
	}
	return list(root)
}

func ollama(src string, raw json.RawMessage) (string, error) {
	var req struct {
		Messages []api.Message `json:"messages"`
		Tools    api.Tools     `json:"tools"`
		Prompt   string        `json:"prompt"`
		Suffix   string        `json:"suffix"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return "", err
	}
	t, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(src)
	if err != nil {
		return "", err
	}
	set := map[string]bool{}
	for _, tt := range t.Templates() {
		identifiers(tt.Root, set)
	}
	if !set["messages"] && !set["response"] {
		resp := &parse.ActionNode{NodeType: parse.NodeAction, Pipe: &parse.PipeNode{NodeType: parse.NodePipe,
			Cmds: []*parse.CommandNode{{NodeType: parse.NodeCommand,
				Args: []parse.Node{&parse.FieldNode{NodeType: parse.NodeField, Ident: []string{"Response"}}}}}}}
		t.Tree.Root.Nodes = append(t.Tree.Root.Nodes, resp)
	}
	var b strings.Builder
	if req.Prompt != "" && req.Suffix != "" {
		err := t.Execute(&b, map[string]any{"Prompt": req.Prompt, "Suffix": req.Suffix, "Response": "",
			"Think": false, "IsThinkSet": false})
		return b.String(), err
	}
	// collate
	var system []string
	var msgs []*api.Message
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role == "system" {
			system = append(system, m.Content)
		}
		if n := len(msgs); n > 0 && msgs[n-1].Role == m.Role && m.Role != "tool" {
			msgs[n-1].Content += "\n\n" + m.Content
		} else {
			msgs = append(msgs, m)
		}
	}
	if set["messages"] || set["document"] {
		err := t.Execute(&b, map[string]any{"System": strings.Join(system, "\n\n"), "Messages": msgs,
			"Tools": req.Tools, "Response": "", "Think": false, "IsThinkSet": false, "Query": "", "Document": "",
			"Instruction": ""})
		return b.String(), err
	}
	var sys, prompt, response string
	turn := func() map[string]any {
		return map[string]any{"System": sys, "Prompt": prompt, "Response": response, "Think": false, "IsThinkSet": false}
	}
	exec := func() error {
		err := t.Execute(&b, turn())
		sys, prompt, response = "", "", ""
		return err
	}
	for _, m := range msgs {
		switch m.Role {
		case "system":
			if prompt != "" || response != "" {
				if err := exec(); err != nil {
					return "", err
				}
			}
			sys = m.Content
		case "user":
			if response != "" {
				if err := exec(); err != nil {
					return "", err
				}
			}
			prompt = m.Content
		case "assistant":
			response = m.Content
		}
	}
	tree := &parse.Tree{Root: cutAfterResponse(t.Tree.Root.Copy().(*parse.ListNode))}
	last, err := template.New("").AddParseTree("", tree)
	if err != nil {
		return "", err
	}
	err = last.Execute(&b, turn())
	return b.String(), err
}
