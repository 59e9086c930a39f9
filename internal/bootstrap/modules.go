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
	deps    map[string][]string
	byName  map[string]string // module name -> path
	paths   []string          // sorted
	soft    map[string]SoftDep
	aliases map[string][]string
}

// SoftDep is a module's soft dependencies from modules.softdep: modules
// modprobe loads before (Pre) and after (Post) it when the image has
// them, such as the crc32c implementation a file system uses. They are
// module names or aliases ("crypto-crc32c").
type SoftDep struct {
	Pre, Post []string
}

// ParseSoftdep reads modules.softdep ("softdep MODULE pre: A B post: C").
// Like modprobe, it ignores what it does not understand: names before a
// pre: or post:, and lines other than softdep.
func ParseSoftdep(r io.Reader) (map[string]SoftDep, error) {
	out := map[string]SoftDep{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "softdep" {
			continue
		}
		name := ModuleName(f[1])
		sd := out[name]
		var to *[]string
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				to = &sd.Pre
			case "post:":
				to = &sd.Post
			default:
				if to != nil {
					*to = append(*to, w)
				}
			}
		}
		out[name] = sd
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.softdep: %w", err)
	}
	return out, nil
}

// ParseAliases reads the plain aliases of modules.alias ("alias
// crypto-crc32c crc32c_generic"): alias to module names. Patterns (the
// device aliases, with wildcards) are left out: soft dependencies name
// plain ones.
func ParseAliases(r io.Reader) (map[string][]string, error) {
	out := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "alias" || strings.ContainsAny(f[1], "*?[") {
			continue
		}
		out[f[1]] = append(out[f[1]], ModuleName(f[2]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.alias: %w", err)
	}
	return out, nil
}

// SetSoftdeps makes LoadOrder honour soft dependencies, resolving names
// that are no module through aliases.
func (md *ModuleDeps) SetSoftdeps(soft map[string]SoftDep, aliases map[string][]string) {
	md.soft, md.aliases = soft, aliases
}

// resolve returns the paths of the modules name stands for: the module
// of that name, else those of the alias.
func (md *ModuleDeps) resolve(name string) []string {
	if p := md.byName[ModuleName(name)]; p != "" {
		return []string{p}
	}
	var out []string
	for _, m := range md.aliases[name] {
		if p := md.byName[m]; p != "" {
			out = append(out, p)
		}
	}
	return out
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
// list itself is an error; so is a cycle. Soft dependencies the image has
// are added, pre ones before their module and post ones after it; those
// it lacks, or that would close a cycle, are skipped, as modprobe does.
func (md *ModuleDeps) LoadOrder(paths []string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string, chain []string) error
	var softVisit func(names, chain []string) error
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
		sd := md.soft[ModuleName(p)]
		if err := softVisit(sd.Pre, append(chain, p)); err != nil {
			return err
		}
		// depmod lists the module to load last first.
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(deps[i], append(chain, p)); err != nil {
				return err
			}
		}
		state[p] = 2
		out = append(out, p)
		return softVisit(sd.Post, append(chain, p))
	}
	softVisit = func(names, chain []string) error {
		for _, n := range names {
			for _, sp := range md.resolve(n) {
				if state[sp] == 0 {
					if err := visit(sp, chain); err != nil {
						return err
					}
				}
			}
		}
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
