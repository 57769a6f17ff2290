package sandbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
)

// socketPoll is how long watchSockets may sleep: 5 ms while the run holds
// no buffers; else about as long as loopback TCP (a few GiB/s here) takes
// to fill what is left of the limit, between 100 us and 1 ms.
func socketPoll(limit, held int64) time.Duration {
	if held == 0 {
		return 5 * time.Millisecond
	}
	const rate = 8 << 30 // bytes per second
	d := time.Duration(max(limit-held, 0) * int64(time.Second) / rate)
	return min(max(d, 100*time.Microsecond), time.Millisecond)
}

// watchSockets keeps a memory-limited run on cgroup v1 within its limit
// counting TCP buffers, which v1 charges apart from memory
// (limits.SocketBalancer): it polls (socketPoll) every 5 ms while the run
// holds no buffers and up to every 100 us near the limit, and kills the run, verdict
// ML, when the kernel cannot make room. v2 needs none of this: the kernel
// charges socket buffers to the memory limit itself.
func (c *Container) watchSockets(b limits.SocketBalancer, limit int64) {
	timer := time.NewTimer(time.Millisecond)
	defer timer.Stop()
	for {
		select {
		case <-c.waited:
			return
		case <-timer.C:
		}
		held, err := b.BalanceSockets()
		if errors.Is(err, limits.ErrMemory) {
			c.kill(StatusMemory, fmt.Sprintf("memory limit %s exceeded by memory and TCP buffers (%s) together; killed", bytesText(limit), bytesText(held)))
			return
		}
		if err != nil {
			return // the group is gone: the run is over
		}
		timer.Reset(socketPoll(limit, held))
	}
}
