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
//	compose-check [-env-file FILE]... [-print] COMPOSE_FILE
//
// The file is checked once with an empty environment (every ${VAR:-default} takes its default)
// and once per -env-file. The process environment and any .env next to the file are ignored on
// purpose, so the result does not depend on the machine it runs on. Exit status: 0 when every
// check passes, 1 when an assertion fails, 2 when the file does not load.
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
	printYAML := flag.Bool("print", false, "print the normalised configuration, as `docker compose config` would")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [-env-file FILE]... [-print] COMPOSE_FILE\n", filepath.Base(os.Args[0]))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
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

	failed := false
	for _, envFile := range append([]string{""}, files...) {
		label := "defaults (empty environment)"
		if envFile != "" {
			label = "env file " + envFile
		}
		fmt.Printf("\n== %s with %s\n", composeFile, label)

		// Every profile enabled, so that services outside the default set (loadtest) are validated too.
		all, err := load(composeFile, envFile, []string{"*"})
		if err != nil {
			fatal(fmt.Errorf("%s does not load: %w", composeFile, err))
		}
		// No profile, as a plain `docker compose up` sees it.
		plain, err := load(composeFile, envFile, nil)
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
// only the variables of envFile.
func load(composeFile, envFile string, profiles []string) (*types.Project, error) {
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(composeFile)),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles(profiles),
	}
	if envFile != "" {
		fns = append(fns, cli.WithEnvFiles(envFile), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile}, fns...)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

type checker struct {
	project *types.Project
	quiet   bool // print failures only
	failed  bool
	passed  int
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
			c.check(strings.Contains(*v, "@postgres:"), "api DATABASE_URL points at the postgres service", *v)
		}
		if v := api.Environment["REDIS_URL"]; v != nil {
			c.check(strings.Contains(*v, "//redis:"), "api REDIS_URL points at the redis service", *v)
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

	if nginx, ok := c.service("nginx"); ok {
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
