# Sleeps through the test: no CPU used, TLE by the wall-time limit.
import time
time.sleep(60)
