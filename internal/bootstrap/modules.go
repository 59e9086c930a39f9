package bootstrap

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// ModuleDeps is a kernel's modules.dep: for each module path (relative
// to /lib/modules/VERSION) the paths of the modules it needs, as depmod
// lists them (all of them, transitively, the one to load last first).
type ModuleDeps struct {
	deps   map[string][]string
	byName map[string]string // module name -> path
	paths  []string          // sorted
}

// ParseModulesDep reads modules.dep.
func ParseModulesDep(r io.Reader) (*ModuleDeps, error) {
	md := &ModuleDeps{deps: map[string][]string{}, byName: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(text, ":")
		if !ok || mod == "" {
			return nil, fmt.Errorf("modules.dep:%d: want \"module: dependencies\", got %q", line, text)
		}
		if err := checkModPath(mod); err != nil {
			return nil, fmt.Errorf("modules.dep:%d: %w", line, err)
		}
		deps := strings.Fields(rest)
		for _, d := range deps {
			if err := checkModPath(d); err != nil {
				return nil, fmt.Errorf("modules.dep:%d: %w", line, err)
			}
		}
		if _, dup := md.deps[mod]; !dup {
			md.paths = append(md.paths, mod)
		}
		md.deps[mod] = deps
		name := ModuleName(mod)
		if _, ok := md.byName[name]; !ok {
			md.byName[name] = mod
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	slices.Sort(md.paths)
	return md, nil
}

// checkModPath refuses a path that could leave /lib/modules/VERSION.
func checkModPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("module path %q is not a clean relative path", p)
	}
	return nil
}

// Path returns the path of the module named name, "" if modules.dep has
// none.
func (md *ModuleDeps) Path(name string) string { return md.byName[ModuleName(name)] }

// Paths lists every module path, sorted.
func (md *ModuleDeps) Paths() []string { return md.paths }

// LoadOrder returns the modules at paths and every module they depend
// on, each once, in an order the kernel can load them: each module after
// everything it needs. The roots are taken in the order given, so the
// same input gives the same order. A dependency modules.dep does not
// list itself is an error; so is a cycle.
func (md *ModuleDeps) LoadOrder(paths []string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string, chain []string) error
	visit = func(p string, chain []string) error {
		switch state[p] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("modules.dep has a cycle: %s", strings.Join(append(chain, p), " -> "))
		}
		deps, ok := md.deps[p]
		if !ok {
			if len(chain) > 0 {
				return fmt.Errorf("module %s needs %s, which modules.dep does not list", chain[len(chain)-1], p)
			}
			return fmt.Errorf("module %s is not in modules.dep", p)
		}
		state[p] = 1
		// depmod lists the module to load last first.
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(deps[i], append(chain, p)); err != nil {
				return err
			}
		}
		state[p] = 2
		out = append(out, p)
		return nil
	}
	for _, p := range paths {
		if err := visit(p, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ParseBuiltin reads modules.builtin: the names of modules built into
// the kernel.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			out[ModuleName(t)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.builtin: %w", err)
	}
	return out, nil
}

// Selection is what a configuration selects from a kernel's modules.
type Selection struct {
	// Load are module paths in load order (dependencies included).
	Load []string
	// Builtin are the requested names built into the kernel.
	Builtin []string
	// Missing are requested names the kernel has neither as module nor
	// built in.
	Missing []string
}

// Select resolves the configuration against modules.dep and
// modules.builtin (nil if the image has none).
func (c *Config) Select(md *ModuleDeps, builtin map[string]bool) (*Selection, error) {
	excluded := func(p string) bool {
		name := ModuleName(p)
		for _, pat := range c.Exclude {
			if ok, _ := path.Match(ModuleName(pat), name); ok {
				return true
			}
		}
		return false
	}
	sel := &Selection{}
	var roots []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] && !excluded(p) {
			seen[p] = true
			roots = append(roots, p)
		}
	}
	for _, name := range c.moduleNames() {
		if strings.ContainsAny(name, "*?[") {
			for _, p := range md.paths {
				if ok, _ := path.Match(name, ModuleName(p)); ok {
					add(p)
				}
			}
			continue
		}
		if p := md.Path(name); p != "" {
			add(p)
		} else if builtin[name] {
			if !slices.Contains(sel.Builtin, name) {
				sel.Builtin = append(sel.Builtin, name)
			}
		} else if !slices.Contains(sel.Missing, name) {
			sel.Missing = append(sel.Missing, name)
		}
	}
	for _, pat := range c.Drivers {
		for _, p := range md.paths {
			if matchTree(pat, p) {
				add(p)
			}
		}
	}
	order, err := md.LoadOrder(roots)
	if err != nil {
		return nil, err
	}
	// A dependency is taken even if excluded: its user cannot load
	// without it.
	sel.Load = order
	return sel, nil
}
