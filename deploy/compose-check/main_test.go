package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The deployment's real files, next to this package.
const (
	realCompose    = "../docker-compose.yml"
	realDockerfile = "../Dockerfile"
	secretsFile    = "testdata/secrets.env"
)

// mutated writes a copy of file with every `from` replaced into a temp dir and returns its path.
// The replacement must apply: a test whose mutation no longer matches would prove nothing.
func mutated(t *testing.T, file, from, to string) string {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), from) {
		t.Fatalf("%s no longer contains %q: update the test", file, from)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(out, []byte(strings.ReplaceAll(string(text), from, to)), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerfileFailures(t *testing.T, dockerfile string) []string {
	t.Helper()
	c := &checker{quiet: true}
	c.checkDockerfile(dockerfile, "../..")
	return c.failures
}

func TestTheDockerfileRunsAsNonRoot(t *testing.T) {
	const nonRoot = "final stage runs as a non-root user"
	if failures := dockerfileFailures(t, realDockerfile); len(failures) > 0 {
		t.Fatalf("the real Dockerfile fails: %v", failures)
	}
	// The last USER line is the runtime stage's; the loadtest stage has its own earlier.
	text, _ := os.ReadFile(realDockerfile)
	last := strings.LastIndex(string(text), "\nUSER node\n")
	for name, replacement := range map[string]string{
		"without USER":   "\n",
		"with USER root": "\nUSER root\n",
		"with USER 0:0":  "\nUSER 0:0\n",
	} {
		copy := filepath.Join(t.TempDir(), "Dockerfile")
		os.WriteFile(copy, []byte(string(text[:last])+replacement+string(text[last+len("\nUSER node\n"):])), 0o600)
		if !slices.Contains(dockerfileFailures(t, copy), nonRoot) {
			t.Errorf("a Dockerfile %s passes the non-root check", name)
		}
	}
}

func TestComposeMayNotRunTheAPIAsRoot(t *testing.T) {
	project, err := load(mutated(t, realCompose, "\n  api:\n    build:", "\n  api:\n    user: root\n    build:"), []string{secretsFile}, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{project: project, quiet: true}
	c.run(project, false)
	for _, want := range []string{
		"api does not override its image's user with root",
		"api keeps the non-root USER of its Dockerfile (no user: override)",
	} {
		if !slices.Contains(c.failures, want) {
			t.Errorf("missing failure %q in %v", want, c.failures)
		}
	}
}

func TestComposeRequiresEverySecret(t *testing.T) {
	if !checkSecretsRequired(realCompose, secretsFile) {
		t.Fatal("the real compose file fails the secrets check")
	}
	// A default for a secret is a password published with the project.
	withDefault := mutated(t, realCompose,
		"${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (see deploy/.env.example)}",
		"${POSTGRES_PASSWORD:-strata}")
	if checkSecretsRequired(withDefault, secretsFile) {
		t.Error("a compose file with a default POSTGRES_PASSWORD passes the secrets check")
	}
}

func TestIsRootUser(t *testing.T) {
	for user, root := range map[string]bool{"": false, "node": false, "1000:1000": false, "root": true, "0": true, "0:0": true, "root:root": true} {
		if isRootUser(user) != root {
			t.Errorf("isRootUser(%q) = %v", user, !root)
		}
	}
}
