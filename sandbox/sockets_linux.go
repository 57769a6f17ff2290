package sandbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
)

// socketPoll is how long watchSockets may sleep while the run holds TCP
// buffers: about as long as loopback TCP (a few GiB/s here) takes to fill
// what is left of the limit, between 100 us and 1 ms.
func socketPoll(limit, held int64) time.Duration {
	const rate = 8 << 30 // bytes per second
	d := time.Duration(max(limit-held, 0) * int64(time.Second) / rate)
	return min(max(d, 100*time.Microsecond), time.Millisecond)
}

// Polls of a run that holds no TCP buffers start at idlePoll and double up
// to maxIdlePoll: most runs never open a socket, and each wakeup costs the
// runner CPU (a poll every 5 ms cost a throwaway run more than 1 ms of CPU
// here). Buffers cannot go from none to the limit unseen for long: the
// kernel caps them at the memory limit by themselves, and filling that
// much takes connections and time.
const (
	idlePoll    = 5 * time.Millisecond
	maxIdlePoll = 50 * time.Millisecond
)

// watchSockets keeps a memory-limited run on cgroup v1 within its limit
// counting TCP buffers, which v1 charges apart from memory
// (limits.SocketBalancer), and kills the run, verdict ML, when the kernel
// cannot make room. v2 needs none of this: the kernel charges socket
// buffers to the memory limit itself.
func (c *Container) watchSockets(b limits.SocketBalancer, limit int64) {
	idle := idlePoll
	timer := time.NewTimer(idle)
	defer timer.Stop()
	strikes := 0
	for {
		select {
		case <-c.waited:
			return
		case <-timer.C:
		}
		held, err := b.BalanceSockets()
		if errors.Is(err, limits.ErrMemory) {
			// The kernel may fail to reclaim for a moment (pages under
			// writeback): three polls in a row, unless the buffers alone
			// are at the limit.
			if strikes++; strikes >= 3 || held >= limit {
				c.kill(StatusMemory, fmt.Sprintf("memory limit %s exceeded by memory and TCP buffers (%s) together; killed", bytesText(limit), bytesText(held)))
				return
			}
			timer.Reset(socketPoll(limit, held))
			continue
		}
		strikes = 0
		if err != nil {
			return // the group is gone: the run is over
		}
		if held > 0 {
			idle = idlePoll
			timer.Reset(socketPoll(limit, held))
			continue
		}
		timer.Reset(idle)
		idle = min(2*idle, maxIdlePoll)
	}
}
