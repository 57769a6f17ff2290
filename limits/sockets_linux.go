package limits

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Socket buffers on cgroup v1 (v2 charges them to memory.current itself,
// unless the host booted with cgroup.memory=nosocket: noSocketAccounting). The kernel charges TCP buffers to a v1
// group only once its memory.kmem.tcp.limit_in_bytes has been written,
// and then to a counter of their own, apart from memory.usage_in_bytes:
// untouched, a run with a 64M memory limit holds gigabytes of loopback TCP
// buffers and reports a peak of a few megabytes. So every v1 group has TCP
// accounting switched on, its TCP limit is the memory limit, its memory
// peak adds the TCP peak, and BalanceSockets (polled by the supervisor)
// keeps memory and TCP buffers together within the limit, as v2 does by
// charging both to one counter: the memory limit is lowered by what the
// buffers hold, so that the kernel reclaims page cache to make room, and
// ErrMemory says when it cannot.
//
// Switching accounting on in a group enables a kernel static key while any
// such group lives (the kernel patches its text when the first one comes
// and the last one goes): measured here, runs one after another cost the
// same whether or not a root of ours holds it on, so none does.

const tcpLimitFile = "memory.kmem.tcp.limit_in_bytes"

// bootedNoSocket is noSocketAccounting of this host, read once.
var bootedNoSocket = sync.OnceValue(func() bool {
	b, _ := os.ReadFile("/proc/cmdline")
	return noSocketAccounting(string(b))
})

// noSocketAccounting reports whether the kernel was booted with
// cgroup.memory=nosocket, which leaves socket buffers out of v2's memory
// accounting: there a memory limit does not bound them.
func noSocketAccounting(cmdline string) bool {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "cgroup.memory="); ok {
			for _, o := range strings.Split(v, ",") {
				if o == "nosocket" {
					return true
				}
			}
		}
	}
	return false
}

// socketAccount is a v1 group's TCP accounting.
type socketAccount struct {
	mu     sync.Mutex
	memory int64 // the run's memory limit; 0 = none
	dir    string
	usage  *intReader // memory.kmem.tcp.usage_in_bytes
	room   int64      // what memory.limit_in_bytes was last set to
}

// accountSockets switches TCP accounting on in the v1 memory group dir,
// with the run's memory limit as the TCP limit. Without the file (a kernel
// that dropped it) a memory limit could not hold, and is refused; without
// a limit the run goes on, its peak without TCP buffers.
func accountSockets(dir string, memory int64) (*socketAccount, error) {
	limit := "-1"
	if memory > 0 {
		limit = strconv.FormatInt(memory, 10)
	}
	switch err := writeControl(filepath.Join(dir, tcpLimitFile), limit); {
	case errors.Is(err, fs.ErrNotExist) && memory > 0:
		return nil, fmt.Errorf("cgroup v1 here does not charge TCP buffers (no %s): a memory limit would not bound them: %w", tcpLimitFile, ErrUnsupported)
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("switching on TCP accounting: %w", err)
	}
	return &socketAccount{memory: memory, dir: dir, room: memory,
		usage: newIntReader(filepath.Join(dir, "memory.kmem.tcp.usage_in_bytes"))}, nil
}

// roomStep is the granularity of BalanceSockets' changes to the memory
// limit: a write may make the kernel reclaim, so not one per page.
const roomStep = 1 << 20

func (a *socketAccount) balance() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, err := a.usage.read()
	if err != nil {
		return 0, err
	}
	if a.memory == 0 {
		return held, nil
	}
	room := a.memory - (held+roomStep-1)/roomStep*roomStep
	if room == a.room {
		return held, nil
	}
	if room < roomStep {
		return held, fmt.Errorf("TCP buffers hold %d of a memory limit of %d bytes: %w", held, a.memory, ErrMemory)
	}
	f := filepath.Join(a.dir, "memory.limit_in_bytes")
	if err := writeControl(f, strconv.FormatInt(room, 10)); err != nil {
		if errors.Is(err, unix.EBUSY) {
			// The kernel could not reclaim down to the room left: what
			// the run holds, and its buffers, exceed the limit.
			return held, fmt.Errorf("TCP buffers hold %d bytes, and the rest does not fit in the %d left of a memory limit of %d: %w", held, room, a.memory, ErrMemory)
		}
		return held, fmt.Errorf("writing %s: %w", f, err)
	}
	a.room = room
	return held, nil
}

func (a *socketAccount) close() {
	if a != nil {
		a.usage.close()
	}
}

// SocketBalancer is a group whose kernel counts socket buffers apart from
// memory (cgroup v1). BalanceSockets lowers the group's memory limit by
// what its TCP buffers hold now (in steps of 1 MiB, raising it again as
// they drain), so that both together stay within the run's memory limit;
// it returns what they hold, and an error wrapping ErrMemory when the rest
// of the run's memory does not fit in what is left. Without a memory
// limit it only reads. It reads one file through a descriptor kept open
// and writes another only when the room changes, so a supervisor can poll
// it every millisecond.
type SocketBalancer interface {
	BalanceSockets() (int64, error)
}

// BalanceSockets is SocketBalancer's; a group without TCP accounting
// holds nothing.
func (g *v1Group) BalanceSockets() (int64, error) {
	if g.sockets == nil {
		return 0, nil
	}
	return g.sockets.balance()
}

// intReader reads a file holding one integer through a descriptor opened
// on first use, with one pread into a fixed buffer.
type intReader struct{ *fileReader }

func newIntReader(path string) *intReader { return &intReader{newFileReader(path, 32)} }

func (r *intReader) read() (int64, error) {
	var v int64
	err := r.fileReader.read(func(b []byte) error {
		var err error
		if v, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return fmt.Errorf("parsing %s: %w", r.path, err)
		}
		return nil
	})
	return v, err
}
