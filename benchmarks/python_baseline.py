#!/usr/bin/env python3
# Copyright 2026 The unidist-cpp Authors.
"""The Python baseline of //benchmarks:compare: multiprocessing.Pool on the same workloads.

//benchmarks:compare runs this with the machine's python3 and passes the sizes and
repetition counts of its own workloads (benchmarks/workloads.h) as flags, so both sides
run the same thing. Standard library only. Left out to keep the whole comparison under 5
minutes: submitting from two threads, 1 GiB objects (about 13 s a repetition), and the
CPU-bound scaling workload (//benchmarks:compare measures the machine's own parallelism
with forked C++ processes instead).

Prints one JSON object on stdout, every metric a list with one sample per repetition:

    {"python_version": "3.11.7", "start_method": "fork",
     "samples": {"latency_us": [271.4, ...], "throughput_tasks_per_s": [...], ...}}

Progress goes to stderr. The metric names and units are those of workloads.h.
"""

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
import zlib


def noop(x):
    return x


def increment(x):
    return x + 1


def checksum(data):
    # Reads every byte; crc32 is the fastest full read the standard library offers here.
    return zlib.crc32(data)


def make_bytes(size):
    return b"\x5a" * size


def size_name(size):
    if size % (1 << 30) == 0:
        return "%dGiB" % (size >> 30)
    if size % (1 << 20) == 0:
        return "%dMiB" % (size >> 20)
    return "%dB" % size


class Recorder:
    def __init__(self):
        self.samples = {}

    def add(self, metric, value):
        self.samples.setdefault(metric, []).append(value)

    def log(self, *metrics):
        for metric in metrics:
            values = sorted(self.samples.get(metric, []))
            if values:
                print("[python]  %-36s %12.4g  (%.4g .. %.4g)" %
                      (metric, values[len(values) // 2], values[0], values[-1]),
                      file=sys.stderr, flush=True)


def memory_mib(pid):
    """(VmRSS, Private_Clean + Private_Dirty) of `pid`, in MiB."""
    def kb(path, field):
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise ValueError("no %s in %s" % (field, path))
    rss = kb("/proc/%d/status" % pid, "VmRSS")
    rollup = "/proc/%d/smaps_rollup" % pid
    private = kb(rollup, "Private_Clean") + kb(rollup, "Private_Dirty")
    return rss / 1024.0, private / 1024.0


def run_trivial(pool, count):
    results = [pool.apply_async(noop, (i,)) for i in range(count)]
    values = [r.get() for r in results]
    assert values[-1] == count - 1


def startup_group(args, rec):
    for _ in range(args.short_reps):
        start = time.perf_counter()
        pool = multiprocessing.Pool(args.workers)
        assert pool.apply_async(noop, (1,)).get() == 1
        rec.add("init_first_result_ms", (time.perf_counter() - start) * 1e3)
        run_trivial(pool, 100)
        driver_rss, _ = memory_mib(os.getpid())
        workers = [memory_mib(p.pid) for p in pool._pool]  # the Pool's worker processes
        rec.add("driver_rss_MiB", driver_rss)
        rec.add("worker_rss_MiB", max(rss for rss, _ in workers))
        rec.add("worker_private_MiB", max(private for _, private in workers))
        start = time.perf_counter()
        pool.close()
        pool.join()
        rec.add("shutdown_ms", (time.perf_counter() - start) * 1e3)
    rec.log("init_first_result_ms", "shutdown_ms", "driver_rss_MiB", "worker_rss_MiB",
            "worker_private_MiB")


def tasks_group(args, rec):
    with multiprocessing.Pool(args.workers) as pool:
        run_trivial(pool, 1000)  # warm-up
        for i in range(200):
            pool.apply_async(noop, (i,)).get()
        for _ in range(args.short_reps):
            start = time.perf_counter()
            for i in range(args.latency_round_trips):
                assert pool.apply_async(noop, (i,)).get() == i
            rec.add("latency_us", (time.perf_counter() - start) * 1e6 / args.latency_round_trips)
        rec.log("latency_us")

        n = args.throughput_tasks
        for _ in range(args.reps):
            start = time.perf_counter()
            run_trivial(pool, n)
            rec.add("throughput_tasks_per_s", n / (time.perf_counter() - start))
        rec.log("throughput_tasks_per_s")

        # map's own default, written out: about four chunks per worker process.
        chunksize = math.ceil(n / (4 * args.workers))
        for _ in range(args.reps):
            start = time.perf_counter()
            values = pool.map(noop, range(n), chunksize=chunksize)
            rec.add("map_tasks_per_s", n / (time.perf_counter() - start))
            assert values[-1] == n - 1
        rec.log("map_tasks_per_s")

        # A Pool has no refs: each link waits for the previous result and sends it back.
        for _ in range(args.reps):
            start = time.perf_counter()
            value = 0
            for _ in range(args.chain_length):
                value = pool.apply_async(increment, (value,)).get()
            rec.add("chain_us_per_task", (time.perf_counter() - start) * 1e6 / args.chain_length)
            assert value == args.chain_length
        rec.log("chain_us_per_task")


def large_group(args, rec):
    with multiprocessing.Pool(args.workers) as pool:
        run_trivial(pool, 100)  # warm-up
        for size in args.put_bytes:
            data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
            expected = zlib.crc32(data)
            metric = "put_task_%s_GBps" % size_name(size)
            for _ in range(args.short_reps if size <= (1 << 20) else args.reps):
                start = time.perf_counter()
                value = pool.apply_async(checksum, (data,)).get()
                rec.add(metric, size / (time.perf_counter() - start) / 1e9)
                assert value == expected
            rec.log(metric)
            del data
        metric = "get_%s_GBps" % size_name(args.get_bytes)
        for _ in range(args.reps):
            start = time.perf_counter()
            value = pool.apply_async(make_bytes, (args.get_bytes,)).get()
            rec.add(metric, args.get_bytes / (time.perf_counter() - start) / 1e9)
            assert len(value) == args.get_bytes
            del value
        rec.log(metric)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--short_reps", type=int, default=10)
    parser.add_argument("--latency_round_trips", type=int, default=2000)
    parser.add_argument("--throughput_tasks", type=int, default=100000)
    parser.add_argument("--chain_length", type=int, default=10000)
    parser.add_argument("--put_bytes", default="1048576,104857600",
                        help="comma-separated sizes in bytes")
    parser.add_argument("--get_bytes", type=int, default=104857600)
    parser.add_argument("--groups", default="startup,tasks,large",
                        help="comma-separated groups to run")
    args = parser.parse_args()
    args.put_bytes = [int(s) for s in args.put_bytes.split(",") if s]

    multiprocessing.set_start_method("fork")  # the Linux default before Python 3.14
    rec = Recorder()
    groups = {"startup": startup_group, "tasks": tasks_group, "large": large_group}
    for name in args.groups.split(","):
        start = time.perf_counter()
        groups[name](args, rec)
        print("[python]  group %s: %.1f s" % (name, time.perf_counter() - start),
              file=sys.stderr, flush=True)
    json.dump({"python_version": sys.version.split()[0],
               "start_method": multiprocessing.get_start_method(),
               "samples": rec.samples}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
