// Command compose-check validates deploy/docker-compose.yml, and the Dockerfile its api service
// builds, without a Docker engine.
//
// It loads the file with compose-go, the library `docker compose` itself uses to parse,
// interpolate, normalise and validate compose files (against the Compose Specification JSON
// schema, plus its own consistency checks). A file that loads here is a file `docker compose`
// accepts. It then asserts the properties Strata's deployment depends on, which no schema can
// know about: the api service is scalable, start-up is gated by healthchecks, and nginx is
// recent enough for the `resolve` upstream parameter that discovers scaled replicas. The
// Dockerfile is parsed by BuildKit's own parser (see dockerfile.go).
//
// Usage:
//
//	compose-check -secrets FILE [-env-file FILE]... [-print] COMPOSE_FILE
//
// Secrets have no default in the compose file: it must not load without them. So the file is
// first loaded once per variable of the -secrets file with that one left out, and each load must
// fail naming it. Then it is checked with the secrets alone (every ${VAR:-default} takes its
// default) and with each -env-file plus the secrets. The process environment and any .env next
// to the file are ignored on purpose, so the result does not depend on the machine it runs on.
// Exit status: 0 when every check passes, 1 when an assertion fails, 2 when the file does not
// load (with the secrets given).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// minNginx is the first open-source nginx release with the `resolve` parameter of the upstream
// `server` directive (re-resolving the name while running), which docker.conf relies on.
var minNginx = [3]int{1, 27, 3}

type envFiles []string

func (e *envFiles) String() string     { return strings.Join(*e, ",") }
func (e *envFiles) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	var files envFiles
	flag.Var(&files, "env-file", "also check with the variables of this env file (repeatable)")
	secretsFile := flag.String("secrets", "", "env file with a placeholder value for every secret the compose file requires")
	printYAML := flag.Bool("print", false, "print the normalised configuration, as `docker compose config` would")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s -secrets FILE [-env-file FILE]... [-print] COMPOSE_FILE\n", filepath.Base(os.Args[0]))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *secretsFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	composeFile, err := filepath.Abs(flag.Arg(0))
	if err != nil {
		fatal(err)
	}

	fmt.Printf("compose parser:    github.com/compose-spec/compose-go/v2 %s (what `docker compose` uses)\n",
		moduleVersion("github.com/compose-spec/compose-go/v2"))
	fmt.Printf("Dockerfile parser: github.com/moby/buildkit %s (what `docker build` uses)\n",
		moduleVersion("github.com/moby/buildkit"))

	fmt.Printf("\n== %s: no default secrets\n", composeFile)
	failed := !checkSecretsRequired(composeFile, *secretsFile)

	for _, envFile := range append([]string{""}, files...) {
		label := "defaults and the secrets of " + *secretsFile
		envs := []string{*secretsFile}
		if envFile != "" {
			label = "env file " + envFile + " and the secrets of " + *secretsFile
			// The secrets come last: an example file leaves them empty, on purpose.
			envs = []string{envFile, *secretsFile}
		}
		fmt.Printf("\n== %s with %s\n", composeFile, label)

		// Every profile enabled, so that services outside the default set (loadtest) are validated too.
		all, err := load(composeFile, envs, []string{"*"})
		if err != nil {
			fatal(fmt.Errorf("%s does not load: %w", composeFile, err))
		}
		// No profile, as a plain `docker compose up` sees it.
		plain, err := load(composeFile, envs, nil)
		if err != nil {
			fatal(fmt.Errorf("%s does not load without profiles: %w", composeFile, err))
		}
		fmt.Printf("ok   loads and validates: services %s; default `up` starts %s\n",
			strings.Join(all.ServiceNames(), ", "), strings.Join(plain.ServiceNames(), ", "))

		// The first pass prints every check; later passes only their failures and a count.
		first := envFile == ""
		c := &checker{project: all, quiet: !first}
		// The Dockerfile does not depend on the environment: check it once.
		c.run(plain, first)
		failed = failed || c.failed
		if c.quiet && !c.failed {
			fmt.Printf("ok   the same %d checks pass\n", c.passed)
		}

		if *printYAML {
			out, err := all.MarshalYAML()
			if err != nil {
				fatal(err)
			}
			fmt.Printf("\n%s", out)
		}
	}

	if failed {
		fmt.Println("\ncompose-check: FAILED")
		os.Exit(1)
	}
	fmt.Println("\ncompose-check: all checks passed")
}

// load parses the compose file the way `docker compose` does (interpolation, normalisation,
// schema validation, consistency checks, paths resolved against the file's directory), with
// only the variables of envFiles (later files win).
func load(composeFile string, envFiles []string, profiles []string) (*types.Project, error) {
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(composeFile)),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles(profiles),
	}
	if len(envFiles) > 0 {
		fns = append(fns, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile}, fns...)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

type checker struct {
	project  *types.Project
	quiet    bool // print failures only
	failed   bool
	passed   int
	failures []string // what failed, for tests
}

func (c *checker) check(ok bool, what string, why ...any) {
	if ok {
		c.passed++
		if !c.quiet {
			fmt.Printf("ok   %s\n", what)
		}
		return
	}
	c.failed = true
	c.failures = append(c.failures, what)
	if len(why) > 0 {
		fmt.Printf("FAIL %s: %s\n", what, fmt.Sprint(why...))
	} else {
		fmt.Printf("FAIL %s\n", what)
	}
}

func (c *checker) service(name string) (types.ServiceConfig, bool) {
	s, err := c.project.GetService(name)
	if err != nil {
		c.check(false, "service "+name+" exists", err)
		return s, false
	}
	return s, true
}

func (c *checker) run(plain *types.Project, withDockerfile bool) {
	for _, name := range []string{"postgres", "redis", "api", "nginx", "loadtest"} {
		c.service(name)
	}

	// Start-up is gated by healthchecks: each of these has one that is not disabled.
	for _, name := range []string{"postgres", "redis", "api", "nginx"} {
		if s, ok := c.service(name); ok {
			hc := s.HealthCheck
			c.check(hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE",
				name+" has a healthcheck", "missing or disabled")
		}
	}

	if api, ok := c.service("api"); ok {
		c.check(len(api.Ports) == 0, "api publishes no host port (required for --scale api=N)",
			"ports: ", describePorts(api.Ports))
		c.check(api.ContainerName == "", "api has no container_name (required for --scale api=N)",
			"container_name: ", api.ContainerName)
		c.check(api.NetworkMode == "", "api uses the compose network (no network_mode)",
			"network_mode: ", api.NetworkMode)
		for _, dep := range []string{"postgres", "redis"} {
			d, ok := api.DependsOn[dep]
			c.check(ok && d.Condition == types.ServiceConditionHealthy,
				"api depends on "+dep+" with condition service_healthy",
				"depends_on."+dep+": ", describeDependency(d, ok))
		}
		for _, v := range []string{"DATABASE_URL", "REDIS_URL", "CACHE_MODE"} {
			value := api.Environment[v]
			c.check(value != nil && *value != "", "api sets "+v)
		}
		if v := api.Environment["DATABASE_URL"]; v != nil {
			c.check(strings.Contains(*v, "@postgres:"), "api DATABASE_URL points at the postgres service", redactPlaceholders(*v))
		}
		if v := api.Environment["REDIS_URL"]; v != nil {
			c.check(strings.Contains(*v, "@redis:"), "api REDIS_URL points at the redis service", redactPlaceholders(*v))
		}
		if v := api.Environment["DATABASE_URL"]; v != nil {
			c.check(strings.Contains(*v, "strata:"+secretPlaceholder("POSTGRES_PASSWORD")+"@"),
				"api DATABASE_URL carries POSTGRES_PASSWORD", redactPlaceholders(*v))
		}
		if v := api.Environment["REDIS_URL"]; v != nil {
			c.check(strings.Contains(*v, "//strata-api:"+secretPlaceholder("REDIS_PASSWORD")+"@"),
				"api REDIS_URL logs in as strata-api with REDIS_PASSWORD", redactPlaceholders(*v))
		}
		_, pinned := api.Environment["REPLICA_ID"]
		c.check(!pinned, "api leaves REPLICA_ID unset (each replica uses its hostname)",
			"REPLICA_ID is set, so every replica would report the same id")
		if b := api.Build; b != nil {
			dockerfile := b.Dockerfile
			if !filepath.IsAbs(dockerfile) {
				dockerfile = filepath.Join(b.Context, dockerfile)
			}
			c.check(isFile(filepath.Join(b.Context, "pnpm-workspace.yaml")),
				"api build context is the monorepo root", b.Context)
			c.check(isFile(dockerfile), "api Dockerfile exists", dockerfile)
			if withDockerfile && isFile(dockerfile) {
				c.checkDockerfile(dockerfile, b.Context)
			}
		} else {
			c.check(false, "api is built from this repository", "no build section")
		}
	}

	// The images run as non-root users (the api and loadtest images: USER in the Dockerfile,
	// asserted below); a `user:` in the compose file would override that.
	for _, name := range c.project.ServiceNames() {
		s, _ := c.project.GetService(name)
		c.check(!isRootUser(s.User), name+" does not override its image's user with root", "user: ", s.User)
	}
	for _, name := range []string{"api", "loadtest"} {
		if s, ok := c.service(name); ok {
			c.check(s.User == "", name+" keeps the non-root USER of its Dockerfile (no user: override)", "user: ", s.User)
		}
	}

	if redis, ok := c.service("redis"); ok {
		c.check(slices.Contains(redis.Command, "/etc/strata/redis/start.sh"),
			"redis starts through deploy/redis/start.sh (its two ACL users)", redis.Command)
		for _, v := range []string{"REDIS_PASSWORD", "REDIS_ADMIN_PASSWORD", "REDISCLI_AUTH"} {
			value := redis.Environment[v]
			c.check(value != nil && *value != "", "redis gets "+v)
		}
	}

	if nginx, ok := c.service("nginx"); ok {
		// The image's envsubst replaces only variables that are set: one missing here would reach
		// nginx as a literal ${...} and stop it.
		used, err := templateVariables(filepath.Join(filepath.Dir(c.project.ComposeFiles[0]), "nginx", "templates"))
		c.check(err == nil, "nginx templates are readable", err)
		for _, v := range used {
			value := nginx.Environment[v]
			c.check(value != nil && *value != "", "nginx sets "+v+", which its templates use")
		}
		published := slices.ContainsFunc(nginx.Ports, func(p types.ServicePortConfig) bool {
			return p.Target == 80 && p.Published != ""
		})
		c.check(published, "nginx publishes container port 80 on a host port", describePorts(nginx.Ports))
		d, ok := nginx.DependsOn["api"]
		c.check(ok && d.Condition == types.ServiceConditionHealthy,
			"nginx depends on api with condition service_healthy", "depends_on.api: ", describeDependency(d, ok))
		version, err := nginxVersion(nginx.Image)
		c.check(err == nil && !less(version, minNginx),
			fmt.Sprintf("nginx image %s is >= %d.%d.%d (needed for `server ... resolve`)",
				nginx.Image, minNginx[0], minNginx[1], minNginx[2]),
			describeVersionError(version, err))
	}

	if lt, ok := c.service("loadtest"); ok {
		c.check(slices.Contains(lt.Profiles, "loadtest"), "the load generator runs only under the loadtest profile",
			"profiles: ", lt.Profiles)
	}
	_, ltInDefault := plain.Services["loadtest"]
	c.check(!ltInDefault, "a plain `up` does not start the load generator")

	// A bind mount whose source is missing is not an error for Docker: it silently creates an
	// empty directory there, and the container then fails in confusing ways. Check them here.
	for _, name := range c.project.ServiceNames() {
		s, _ := c.project.GetService(name)
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			_, err := os.Stat(v.Source)
			c.check(err == nil, fmt.Sprintf("%s bind mount source exists: %s", name, v.Source), err)
		}
	}
}

// isRootUser: a compose `user:` value that means root ("root", "0", "root:…", "0:…").
func isRootUser(user string) bool {
	name := strings.SplitN(user, ":", 2)[0]
	return name == "root" || name == "0"
}

var templateVariable = regexp.MustCompile(`\$\{(STRATA_[A-Z0-9_]+)\}`)

// templateVariables lists the ${STRATA_*} variables the nginx templates in dir use.
func templateVariables(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.template"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no templates in %s (%v)", dir, err)
	}
	var names []string
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		for _, m := range templateVariable.FindAllStringSubmatch(string(text), -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// The -secrets file holds placeholders of this form, so checks can see which secret went where
// and print URLs without them.
func secretPlaceholder(name string) string { return "placeholder-" + strings.ToLower(name) }

var placeholder = regexp.MustCompile(`placeholder-[a-z_]+`)

func redactPlaceholders(s string) string { return placeholder.ReplaceAllString(s, "***") }

// checkSecretsRequired loads the compose file with every secret of secretsFile but one, for each
// one in turn, and with none: every load must fail, naming the missing secret. A file that loads
// without a secret has a default for it, which is a shared, published password.
func checkSecretsRequired(composeFile, secretsFile string) bool {
	values, err := readEnvFile(secretsFile)
	if err != nil || len(values) == 0 {
		fmt.Printf("FAIL the secrets file %s lists the secrets: %v\n", secretsFile, err)
		return false
	}
	ok := true
	dir, err := os.MkdirTemp("", "compose-check-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	for name := range values {
		if values[name] != secretPlaceholder(name) {
			fmt.Printf("FAIL %s in %s is %q, not the placeholder %q\n", name, secretsFile, values[name], secretPlaceholder(name))
			ok = false
		}
		var lines []string
		for other, value := range values {
			if other != name {
				lines = append(lines, other+"="+value)
			}
		}
		partial := filepath.Join(dir, "without-"+name+".env")
		if err := os.WriteFile(partial, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			fatal(err)
		}
		_, err := load(composeFile, []string{partial}, []string{"*"})
		if err != nil && strings.Contains(err.Error(), name) {
			fmt.Printf("ok   does not load without %s (%s)\n", name, firstLine(err.Error()))
		} else {
			fmt.Printf("FAIL loads without %s: the compose file must require it (${%s:?...}), not default it\n", name, name)
			ok = false
		}
	}
	_, err = load(composeFile, nil, []string{"*"})
	if err != nil {
		fmt.Printf("ok   does not load with no secret at all\n")
	} else {
		fmt.Printf("FAIL loads with no secret at all\n")
		ok = false
	}
	return ok
}

// readEnvFile reads NAME=value lines, skipping comments and blank lines.
func readEnvFile(path string) (map[string]string, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, "=")
		values[name] = value
	}
	return values, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

var nginxTag = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?(?:-|$)`)

// nginxVersion reads the version from an nginx image reference such as nginx:1.28-alpine.
// A floating minor tag (1.28) counts as its lowest release (1.28.0); tags without a version
// (latest, alpine, mainline) and digest-only references cannot be checked and are refused.
func nginxVersion(image string) ([3]int, error) {
	var v [3]int
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return v, fmt.Errorf("image %q has no tag; pin a version tag such as nginx:1.28-alpine", image)
	}
	m := nginxTag.FindStringSubmatch(ref[colon+1:])
	if m == nil {
		return v, fmt.Errorf("tag of %q is not a version; pin one such as nginx:1.28-alpine", image)
	}
	for i := range 3 {
		if m[i+1] != "" {
			v[i], _ = strconv.Atoi(m[i+1])
		}
	}
	return v, nil
}

func less(a, b [3]int) bool {
	for i := range 3 {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func describeVersionError(v [3]int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("image is nginx %d.%d.%d", v[0], v[1], v[2])
}

func describePorts(ports []types.ServicePortConfig) string {
	if len(ports) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		parts = append(parts, fmt.Sprintf("%s:%s->%d/%s", p.HostIP, p.Published, p.Target, p.Protocol))
	}
	return strings.Join(parts, ", ")
}

func describeDependency(d types.ServiceDependency, ok bool) string {
	if !ok {
		return "missing"
	}
	return "condition " + d.Condition
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return "(unknown version)"
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
	os.Exit(2)
}
