#!/usr/bin/env python3
"""A frozen replica under a cached, sharded Python client: lookups through
two replicas of one shard while each replica in turn is stopped (SIGSTOP)
and then resumed, with the client's keepalive pings on or off.

    PYTHONPATH=build/python /usr/bin/python3 bench/frozen_replica.py \\
        --build build --keepalive-time 2 [--freeze-seconds 15]

Starts two engram-servers (--demo, --keepalive-time 2s --keepalive-timeout
1s) on loopback as the replicas of one shard of layer_1, a Client with a
64 MiB cache per replica (start_caching first) and attempt_timeout 0.3 s,
and two threads looking up 256 ids at a time (200 from a hot set of 2000,
56 uniform). Each phase stops one replica for --freeze-seconds, resumes
it and waits --settle-seconds; a shard prefers one replica while it is
healthy, and freezing each in turn covers the one serving. Prints, per
phase, lookups, p50 / p99 / max latency while frozen and after, and the
failed lookups (the floor: none).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import engram_client as ec


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(build, data_dir, port):
    return subprocess.Popen(
        [os.path.join(build, "server/engram-server"), "--listen",
         f"127.0.0.1:{port}", "--data-dir", data_dir, "--demo",
         "--keepalive-time", "2s", "--keepalive-timeout", "1s"],
        stderr=open(data_dir + ".log", "w"))


def rows_of(address, deadline):
    while True:
        try:
            return ec.Client(address).describe("layer_1").rows
        except ec.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def summary(latencies):
    if not latencies:
        return "no lookups"
    ordered = sorted(latencies)
    at = lambda q: 1e3 * ordered[min(len(ordered) - 1, int(len(ordered) * q))]
    return (f"{len(ordered)} lookups, p50 {at(0.5):.2f} ms, "
            f"p99 {at(0.99):.1f} ms, max {1e3 * ordered[-1]:.0f} ms")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--keepalive-time", type=float, default=60)
    parser.add_argument("--freeze-seconds", type=float, default=15)
    parser.add_argument("--settle-seconds", type=float, default=8)
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="frozen-replica-")
    ports = [free_port(), free_port()]
    servers = [start_server(args.build, os.path.join(work, str(i)), port)
               for i, port in enumerate(ports)]
    try:
        addresses = [f"127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 120
        rows = min(rows_of(address, deadline) for address in addresses)
        client = ec.Client(
            shard_map_text=(f"table layer_1 rows {rows}\nshard layer_1 0 "
                            f"{rows} {addresses[0]} {addresses[1]}\n"),
            cache_bytes=64 << 20, attempt_timeout=0.3, timeout=5.0,
            keepalive_time=args.keepalive_time, keepalive_timeout=1.0)
        client.start_caching(["layer_1"])
        hot = np.random.default_rng(1).integers(0, rows, 2000)
        stop = threading.Event()
        done = []  # (start time, latency)
        failures = []

        def reader(seed):
            random = np.random.default_rng(seed)
            while not stop.is_set():
                ids = np.concatenate([hot[random.integers(0, 2000, 200)],
                                      random.integers(0, rows, 56)])
                start = time.monotonic()
                try:
                    client.lookup("layer_1", ids)
                    done.append((start, time.monotonic() - start))
                except ec.Error as error:
                    failures.append(f"{error.code_name}: {error.message}")

        readers = [threading.Thread(target=reader, args=(seed,))
                   for seed in (2, 3)]
        for thread in readers:
            thread.start()
        time.sleep(3)
        phases = []
        for replica, server in enumerate(servers):
            frozen = time.monotonic()
            os.kill(server.pid, signal.SIGSTOP)
            time.sleep(args.freeze_seconds)
            os.kill(server.pid, signal.SIGCONT)
            resumed = time.monotonic()
            time.sleep(args.settle_seconds)
            phases.append((replica, frozen, resumed, time.monotonic()))
        stop.set()
        for thread in readers:
            thread.join()

        print(f"keepalive_time {args.keepalive_time:g} s, "
              f"{args.freeze_seconds:g} s frozen per replica")
        for replica, frozen, resumed, settled in phases:
            while_frozen = [x for t, x in done if frozen <= t < resumed]
            after = [x for t, x in done if resumed <= t < settled]
            print(f"replica {replica} frozen: {summary(while_frozen)}; "
                  f"after SIGCONT: {summary(after)}")
        print(f"failed lookups: {len(failures)}", failures[:3])
        print("cache:", client.cache_stats())
        return 1 if failures else 0
    finally:
        for server in servers:
            os.kill(server.pid, signal.SIGCONT)
            server.terminate()
            server.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
