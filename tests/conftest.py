"""The fixtures live in `testbench.fixtures`, beside the parts they start."""

pytest_plugins = ["testbench.fixtures"]
