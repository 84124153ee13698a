package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// checkDockerfile parses the Dockerfile the api service builds with BuildKit's own parser (the
// frontend behind `docker build`), turns it into instructions (which validates instruction
// names, flags such as RUN --mount, durations and stage references), runs the default
// `docker build --check` rules that apply at this stage, and asserts what the deployment relies
// on in the final stage. Nothing is built: there is no Docker engine here.
func (c *checker) checkDockerfile(dockerfile, context string) {
	f, err := os.Open(dockerfile)
	if err != nil {
		c.check(false, "Dockerfile opens", err)
		return
	}
	defer f.Close()

	res, err := parser.Parse(f)
	if err != nil {
		c.check(false, "Dockerfile parses (BuildKit parser)", err)
		return
	}
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		warnings = append(warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		c.check(false, "Dockerfile instructions are valid", err)
		return
	}
	c.check(true, fmt.Sprintf("Dockerfile parses into %d stages (BuildKit parser and instruction validation)", len(stages)))
	c.check(len(warnings) == 0, "Dockerfile has no parser or lint warnings", strings.Join(warnings, "; "))
	if len(stages) == 0 {
		return
	}

	var runs []string
	for _, s := range stages {
		for _, cmd := range s.Commands {
			if r, ok := cmd.(*instructions.RunCommand); ok {
				runs = append(runs, strings.Join(r.CmdLine, " "))
			}
		}
	}
	anyRun := func(parts ...string) bool {
		return slices.ContainsFunc(runs, func(r string) bool {
			for _, p := range parts {
				if !strings.Contains(r, p) {
					return false
				}
			}
			return true
		})
	}
	c.check(anyRun("pnpm install", "--frozen-lockfile"), "Dockerfile installs with pnpm install --frozen-lockfile")
	c.check(anyRun("pnpm", "deploy", "--prod"), "Dockerfile deploys the API with production dependencies only (pnpm deploy --prod)")

	final := stages[len(stages)-1]
	var user string
	var health *instructions.HealthCheckCommand
	var cmdLine []string
	var exposed []string
	env := map[string]string{}
	for _, cmd := range final.Commands {
		switch x := cmd.(type) {
		case *instructions.UserCommand:
			user = x.User
		case *instructions.HealthCheckCommand:
			health = x
		case *instructions.CmdCommand:
			if !x.PrependShell {
				cmdLine = x.CmdLine
			} else {
				cmdLine = []string{"(shell form) " + strings.Join(x.CmdLine, " ")}
			}
		case *instructions.ExposeCommand:
			exposed = append(exposed, x.Ports...)
		case *instructions.EnvCommand:
			for _, kv := range x.Env {
				env[kv.Key] = kv.Value
			}
		}
	}
	base := strings.SplitN(user, ":", 2)[0]
	c.check(base != "" && base != "root" && base != "0", "final stage runs as a non-root user", "USER ", quoteOrNone(user))
	c.check(health != nil && health.Health != nil && len(health.Health.Test) > 0 && health.Health.Test[0] != "NONE",
		"final stage has a HEALTHCHECK")
	if health != nil && health.Health != nil {
		c.check(strings.Contains(strings.Join(health.Health.Test, " "), "/health/ready"),
			"HEALTHCHECK probes /health/ready", health.Health.Test)
	}
	c.check(slices.Contains(exposed, "8080"), "final stage EXPOSEs 8080", exposed)
	c.check(env["NODE_ENV"] == "production" && env["PORT"] == "8080",
		"final stage sets NODE_ENV=production and PORT=8080", env)
	c.check(slices.Equal(cmdLine, []string{"node", "--single-threaded-gc", "dist/server.js"}),
		`final stage CMD is ["node","--single-threaded-gc","dist/server.js"] (exec form: Node gets SIGTERM directly, not via a shell; replicas run as the local stack runs them)`, cmdLine)

	// The build context is the repository root: without these exclusions a developer's
	// node_modules (host-built native modules) and .git would be sent to the daemon and copied in.
	ignore, err := readIgnore(filepath.Join(context, ".dockerignore"))
	c.check(err == nil, ".dockerignore exists at the build context root", err)
	if err == nil {
		for _, want := range []string{"**/node_modules", ".git"} {
			c.check(slices.Contains(ignore, want), ".dockerignore excludes "+want)
		}
	}
}

func readIgnore(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines, s.Err()
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none: root)"
	}
	return s
}
