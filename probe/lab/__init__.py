"""A laboratory for the probe: servers that behave (and misbehave) on demand.

The origin server, the test certificate authority and the DNS server live here
because the tests, the benchmarks and the network-namespace lab all use them.
Nothing under ``probe.measure`` imports this package.
"""
