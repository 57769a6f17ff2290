package repro

import (
	"fmt"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Config is one check, as plain data.
type Config struct {
	// Source is the tree to build (never written); it must exist.
	Source string
	// Build is the build command, run in the tree (exec'd, not through a
	// shell: give "sh", "-c", "..." for one).
	Build []string
	// Artifacts are globs relative to the tree: path.Match syntax per
	// component, "**" for any number of directories; a directory is taken
	// whole.
	Artifacts []string
	// Vary lists the variations in force; nil means All. Explicit lists
	// those asked for by name: one of them that cannot take effect here is
	// refused (ErrUnavailable) rather than dropped.
	Vary, Explicit []string
	// Bisect finds which variations cause a difference.
	Bisect bool
	// UserGroup is the user_group experiment's identity; nil means
	// DefaultUserGroup.
	UserGroup *sandbox.User
	// Locale is the locales experiment's locale; "" means DefaultLocale,
	// or another installed one when that is not.
	Locale string
	// Env is added to every build's environment (KEY=VALUE).
	Env []string
	// Diffoscope is diffoscope's path, "" to describe differences without
	// it.
	Diffoscope string
	// Jobs is how many builds run at once (0 means 1).
	Jobs int
	// WorkDir is where the builds' layers go (a directory of their own is
	// made in it); "" means os.TempDir(). It must be a filesystem that can
	// be an overlay's upper layer (not an overlay itself).
	WorkDir string
	// KeepDir, when set, keeps every build's layers and log there (it must
	// not exist yet) instead of removing them.
	KeepDir string
	// RunDir and CgroupRoot are passed to every sandbox.Spec.
	RunDir, CgroupRoot string
	// Progress, when set, hears of every build as it starts and ends.
	Progress func(Progress)
}

// Progress is one build starting (Done false) or ending.
type Progress struct {
	N      int      // the build's number, from 1, in the order started
	Name   string   // "control", "experiment", or what it varies
	Varies []string // the variations it varies
	Done   bool
	Wall   time.Duration
	// Failed says why the build failed, when it did; Differs whether its
	// artifacts differ from the control's (not for the control itself).
	Failed  string
	Differs bool
}

// ReportVersion is the version of Report's JSON form; raised only when a
// field changes meaning or goes away.
const ReportVersion = 1

// Report is a check's outcome.
type Report struct {
	Version      int  `json:"version"`
	Reproducible bool `json:"reproducible"`
	// Culprits are the variations that make the artifacts differ, each
	// alone ("build_path"), or together where none does alone ("a+b");
	// empty when reproducible, when bisection was off, or when the build
	// differs without any variation (Nondeterministic).
	Culprits         []string `json:"culprits"`
	Nondeterministic bool     `json:"nondeterministic,omitempty"`
	Bisected         bool     `json:"bisected"`
	// Message is the verdict in one line, e.g.
	// "not reproducible: build_path (out/hello differs), time (out/hello differs)".
	Message         string            `json:"message"`
	SourceDateEpoch int64             `json:"source_date_epoch"`
	Varied          []string          `json:"varied"`
	NotVaried       map[string]string `json:"not_varied,omitempty"`
	// VariedBy says how a variation was made where there is more than one
	// way (num_cpus: a cpuset, or the CPU affinity where a rootless run
	// cannot have a cpuset; time: libfaketime; user_group rootless: a
	// subordinate id).
	VariedBy  map[string]string `json:"varied_by,omitempty"`
	Builds    []BuildReport     `json:"builds"`
	Artifacts []ArtifactReport  `json:"artifacts"`
	Warnings  []string          `json:"warnings,omitempty"`
}

// BuildReport is one build of a check.
type BuildReport struct {
	Name   string   `json:"name"`
	Varies []string `json:"varies"`
	// Status and ExitCode are the sandbox's (see sandbox.Result).
	Status   sandbox.Status `json:"status"`
	ExitCode int            `json:"exit_code"`
	WallMs   int64          `json:"wall_ms"`
	// Differs: its artifacts differ from the control's (or it failed).
	Differs bool   `json:"differs"`
	Failed  string `json:"failed,omitempty"`
	// Log is where its output was kept (Config.KeepDir only).
	Log string `json:"log,omitempty"`
}

// ArtifactReport is one artifact across the builds.
type ArtifactReport struct {
	Path         string          `json:"path"`
	Reproducible bool            `json:"reproducible"`
	Builds       map[string]Hash `json:"builds"`
	// Diff describes how the experiment's differs from the control's.
	Diff string `json:"diff,omitempty"`
}

// culpritText is a culprit with what it broke, for the Message.
func culpritText(name string, arts []string, failed string) string {
	switch {
	case failed != "":
		return fmt.Sprintf("%s (the build failed: %s)", name, failed)
	case len(arts) == 1:
		return fmt.Sprintf("%s (%s differs)", name, arts[0])
	case len(arts) > 3:
		return fmt.Sprintf("%s (%s and %d more differ)", name, strings.Join(arts[:3], ", "), len(arts)-3)
	case len(arts) > 1:
		return fmt.Sprintf("%s (%s differ)", name, strings.Join(arts, ", "))
	}
	return name
}
