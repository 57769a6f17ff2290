package sandbox

const rootlessTestEnv = "SANDBOX_TEST_ROOTLESS"
